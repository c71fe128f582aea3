/** The native decode path's KV cache and attention taps (lib/runtime/native-attention.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attentionTapsOf, NativeKvCache } from '../../../lib/runtime/native-attention';

test('top positions go by descending probability, equal probabilities by the lower position first', () => {
  const probs = Float32Array.of(0.1, 0.3, 0.1, 0.3, 0.05);
  const taps = attentionTapsOf(probs, 1, 5, 3);
  assert.deepEqual(Array.from(taps.topPositions, Number), [1, 3, 0]);
  assert.deepEqual(Array.from(taps.topWeights), [0.3, 0.3, 0.1].map(Math.fround));
});

test('a key with probability zero (outside the window) is position -1, and kept is min(topK, keys)', () => {
  const probs = Float32Array.of(0, 0, 0.6, 0.2, /* head 1 */ 0, 0, 0, 0.9);
  const taps = attentionTapsOf(probs, 2, 4, 8);
  assert.equal(taps.kept, 4);
  assert.deepEqual(Array.from(taps.topPositions, Number), [2, 3, -1, -1, 3, -1, -1, -1]);
  assert.deepEqual(Array.from(taps.topWeights.subarray(4)), [0.9, 0, 0, 0].map(Math.fround));
});

test('sink mass is one minus the probability over real keys, per head', () => {
  const taps = attentionTapsOf(Float32Array.of(0.25, 0.5, 0.125, 0.125), 2, 2, 1);
  assert.deepEqual(Array.from(taps.sinkMass), [0.25, 0.75]);
});

test('a growing cache keeps every head\'s rows, and past tensors pack the first rows as [1, kvHeads, length, headDim]', () => {
  const [kvHeads, headDim] = [2, 3];
  const cache = new NativeKvCache(1, kvHeads, headDim, 2);
  const present = (total: number, offset: number) => Float32Array.from({ length: kvHeads * total * headDim }, (_, i) => offset + i);
  // Two positions from a prefill chunk, then two more after growing.
  cache.storePresent(0, present(2, 0), present(2, 100), 0, 2);
  cache.reserve(4, 2);
  assert.equal(cache.capacity, 4);
  cache.storePresent(0, present(4, 1000), present(4, 2000), 2, 4);
  const { key, value } = cache.pastTensors(0, 4);
  assert.deepEqual(key.dims, [1, kvHeads, 4, headDim]);
  const head = (data: Float32Array, h: number) => Array.from(data.subarray(h * 4 * headDim, (h + 1) * 4 * headDim));
  // Head 1: its first two rows from the first chunk (elements 6..11), then rows 2-3 of the second present (1000 + 18..23).
  assert.deepEqual(head(key.data as Float32Array, 1), [6, 7, 8, 9, 10, 11, 1018, 1019, 1020, 1021, 1022, 1023]);
  assert.deepEqual(head(value.data as Float32Array, 0), [100, 101, 102, 103, 104, 105, 2006, 2007, 2008, 2009, 2010, 2011]);
});
