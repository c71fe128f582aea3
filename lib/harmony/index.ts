/** The harmony format for gpt-oss: o200k_harmony tokenizer, conversation renderer, streaming parser. */
export * from './tokenizer';
export * from './render';
export * from './parser';
export { parseHeader, type ParsedHeader } from './header';
export { bpeMergePairs, byteLevelText, byteLevelVocabulary, type ByteLevelVocabulary, type MergePair } from './bpe-merges';
export { schemaToTypeScript, functionToolsSection } from './tool-schema';
