export * from './config';
export * from './errors';
export * from './weights';
export * from './bf16';
export * from './mxfp4';
export * from './safetensors';
export * from './checkpoint';
export * from './generate';
