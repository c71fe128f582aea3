export * from './roles';
export * from './users';
export * from './identity';
export * from './redact';
export * from './access';
