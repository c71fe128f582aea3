/** The harmony format for gpt-oss: o200k_harmony tokenizer, conversation renderer, streaming parser. */
export * from './tokenizer';
export * from './render';
export * from './parser';
export { parseHeader, type ParsedHeader } from './header';
export { schemaToTypeScript, functionToolsSection } from './tool-schema';
