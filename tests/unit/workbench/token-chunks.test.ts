import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkOfToken, chunkText, chunkTokens } from '../../../lib/workbench/token-chunks';

test('chunks keep every token once, in panel order, at most `size` per chunk', () => {
  const indices = [4, 5, 6, 7, 8, 20, 21];
  const chunks = chunkTokens(indices, 3);
  assert.deepEqual(chunks, [[4, 5, 6], [7, 8, 20], [21]]);
  assert.deepEqual(chunks.flat(), indices);
});

test('a panel without tokens has no chunks', () => {
  assert.deepEqual(chunkTokens([], 256), []);
});

test('a chunk size that is not a positive integer is refused by name', () => {
  assert.throws(() => chunkTokens([1, 2], 0), /token chunk size must be a positive integer \(got 0\)/);
  assert.throws(() => chunkTokens([1, 2], 2.5), /got 2\.5/);
});

test('each token maps to the chunk that renders it', () => {
  const owners = chunkOfToken(chunkTokens([10, 11, 12, 13, 14], 2));
  assert.equal(owners.get(10), 0);
  assert.equal(owners.get(13), 1);
  assert.equal(owners.get(14), 2);
  assert.equal(owners.get(15), undefined);
});

test('a plain-text chunk reads exactly like its token spans joined', () => {
  const texts = ['<|start|>', 'The', ' sky', ' is', '\n', ' blue'];
  assert.equal(chunkText([1, 2, 3, 4, 5], texts), 'The sky is\n blue');
});
