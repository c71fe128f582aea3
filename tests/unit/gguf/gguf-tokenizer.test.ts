/**
 * Tokenizer metadata for llama.cpp: GPT-2's byte alphabet and merges recovered from BPE ranks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteToUnicodeTable, bytesToTokenText, deriveMerges, tokenizerMetadata, TOKEN_TYPE } from '../../../lib/model/gguf-tokenizer';

const bytes = (text: string) => new TextEncoder().encode(text);

test('the byte alphabet is reversible and keeps printable ASCII as itself', () => {
  const table = byteToUnicodeTable();
  assert.equal(new Set(table).size, 256);
  assert.equal(table[0x41], 'A');
  assert.equal(table[0x20], '\u0120'); // space is GPT-2's "Ġ"
  assert.equal(table[0x0a], '\u010a'); // newline is "Ċ"
  assert.equal(bytesToTokenText(bytes(' the')), '\u0120the');
});

/** A toy rank table: single bytes first, then merged tokens in rank order. */
function toyRanks(merged: string[]): Uint8Array[] {
  return [...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...merged.map(bytes)];
}

test('each merged token comes from the lowest-ranked merges of its own bytes', () => {
  // "ab" then "abc": "abc" must be "ab"+"c". "bc" is ranked after "abc", so it cannot be used for it.
  const merges = deriveMerges(toyRanks(['ab', 'abc', 'bc', 'abcbc']));
  assert.deepEqual(merges, ['a b', 'ab c', 'b c', 'abc bc']);
});

test('a token that no single merge of lower-ranked tokens builds is refused', () => {
  // "xyz" cannot be formed: neither "xy" nor "yz" is ranked before it.
  assert.throws(() => deriveMerges(toyRanks(['xyz'])), /BPE token 256 cannot be built from one merge .* 3 pieces/);
});

test('special tokens keep their text and are marked as control tokens', () => {
  const tokenBytes = [...toyRanks(['ab']), bytes('<|start|>')];
  const metadata = tokenizerMetadata({ tokenBytes, bpeTokenCount: 257, bosTokenId: 257, eosTokenId: 257, padTokenId: 257 });
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const types = metadata.get('tokenizer.ggml.token_type');
  assert.ok(tokens?.type === 'array' && types?.type === 'array');
  assert.equal(tokens.values[257], '<|start|>');
  assert.equal(tokens.values[32], '\u0120');
  assert.equal(types.values[257], TOKEN_TYPE.control);
  assert.equal(types.values[256], TOKEN_TYPE.normal);
  assert.deepEqual(metadata.get('tokenizer.ggml.model'), { type: 'string', value: 'gpt2' });
  assert.deepEqual(metadata.get('tokenizer.ggml.pre'), { type: 'string', value: 'gpt-4o' });
});
