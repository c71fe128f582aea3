/**
 * Trace codec version 2 (lib/trace/codec.ts): attention positions stored per layer as offsets back
 * from the query token in the narrowest width, exact in every width; version-1 chunks still decode.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { assembleCapture, CODEC_VERSION, CorruptBlobError, decodeChunk, decodeHalf, encodeCapture, encodeHalf, MAX_CHUNK_BYTES, type AttentionChunk, type EncodedChunk } from '../../../lib/trace/codec';
import type { RunResult } from '../../../lib/trace/types';
import { codecV1Fixture, syntheticRun, TINY_SHAPE } from '../../db/helpers';

/** The chunk header is 40 bytes; a version-2 attention payload starts with one form byte per layer (its offset width, 0 = absolute i32). */
const HEADER_BYTES = 40;
const layerForms = (chunk: EncodedChunk, numLayers: number) => [...chunk.bytes.subarray(HEADER_BYTES, HEADER_BYTES + numLayers)];

/** A run with attention only: `position(token, layer, slot)` for every head's slots. */
function attentionRun(numTokens: number, numLayers: number, position: (token: number, layer: number, slot: number) => number): RunResult {
  const [numHeads, topK] = [2, 3];
  const slots = numTokens * numLayers * numHeads * topK;
  const topPositions = new Int32Array(slots);
  for (let slot = 0; slot < slots; slot++) {
    const token = Math.floor(slot / (numLayers * numHeads * topK));
    topPositions[slot] = position(token, Math.floor(slot / (numHeads * topK)) % numLayers, slot % topK);
  }
  return {
    model: { name: 'codec-test', configHash: 'codec-test' }, tokens: new Array<number>(numTokens).fill(1), promptLength: numTokens, messages: [], logprobs: [],
    routing: null,
    attention: { numTokens, numLayers, numHeads, topK, sinkMass: new Float32Array(numTokens * numLayers * numHeads).fill(0.25), topPositions, topWeights: new Float32Array(slots).fill(0.125) },
    sampling: { temperature: 1, topP: 1, seed: 1, maxNewTokens: 0 }, stopReason: 'max_tokens',
    timings: { prefillMs: 0, decodeMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 },
  };
}

const attentionChunks = (run: RunResult, chunkTokens?: number) => encodeCapture(run, { chunkTokens }).filter((chunk) => chunk.section === 'attention');

function decodedPositions(chunks: EncodedChunk[]): number[] {
  return chunks.flatMap((chunk) => Array.from((decodeChunk(chunk.bytes) as AttentionChunk).topPositions));
}

test('new chunks are written as codec version 2', () => {
  assert.equal(CODEC_VERSION, 2);
  assert.ok(encodeCapture(syntheticRun(TINY_SHAPE, 1)).every((chunk) => chunk.version === 2 && chunk.bytes[4] === 2));
});

test('offsets up to 254 are stored as u8; 255 is padding, so an offset of 255 widens that layer to u16 and leaves the others u8', () => {
  const farthest = (offset: number) => attentionRun(300, 3, (token, layer, slot) => (slot === 2 ? -1 : layer === 1 && slot === 0 ? Math.max(0, token - offset) : token - slot));
  const fits = farthest(254);
  const [fitsChunk] = attentionChunks(fits);
  assert.deepEqual(layerForms(fitsChunk, 3), [1, 1, 1]);
  assert.deepEqual(decodedPositions([fitsChunk]), Array.from(fits.attention!.topPositions));
  const widens = farthest(255);
  const [widensChunk] = attentionChunks(widens);
  assert.deepEqual(layerForms(widensChunk, 3), [1, 2, 1]);
  assert.deepEqual(decodedPositions([widensChunk]), Array.from(widens.attention!.topPositions));
  assert.ok(widensChunk.bytes.length > fitsChunk.bytes.length);
});

test('an offset beyond u16 widens that layer to u32; padding stays -1 in every width', () => {
  const run = attentionRun(65_600, 2, (token, layer, slot) => (slot === 2 ? -1 : layer === 1 && slot === 0 ? 0 : token - slot));
  const chunks = attentionChunks(run, 4096);
  const last = chunks.at(-1)!; // tokens 65,536.. : layer 1 attends to position 0, more than 65,534 back
  assert.deepEqual(layerForms(last, 2), [1, 4]);
  assert.deepEqual(layerForms(chunks[0], 2), [1, 2]);
  assert.deepEqual(decodedPositions(chunks), Array.from(run.attention!.topPositions));
});

test('a position after its token keeps that layer absolute (i32); one below -1 is stored as an offset past its token; both round trip exactly', () => {
  const run = attentionRun(40, 3, (token, layer, slot) => (layer === 0 && token === 5 && slot === 1 ? 6 : layer === 2 && token === 9 && slot === 0 ? -7 : token - slot));
  const [chunk] = attentionChunks(run);
  assert.deepEqual(layerForms(chunk, 3), [0, 1, 1], 'layer 0 holds a position after its token');
  assert.deepEqual(decodedPositions([chunk]), Array.from(run.attention!.topPositions), 'layer 2 stores -7 as an offset of token + 7');
});

test('rows of a version-2 attention chunk decode to the same values as the whole chunk', () => {
  const run = syntheticRun(TINY_SHAPE, 4);
  const [chunk] = attentionChunks(run);
  const whole = decodeChunk(chunk.bytes) as AttentionChunk;
  const { numLayers, numHeads, attentionTopK: topK } = TINY_SHAPE;
  const slotsPerToken = numLayers * numHeads * topK;
  const rows = decodeChunk(chunk.bytes, {}, { rows: { start: 13, end: 17 } }) as AttentionChunk;
  assert.equal(rows.tokenStart, 13);
  assert.deepEqual(rows.topPositions, whole.topPositions.subarray(13 * slotsPerToken, 17 * slotsPerToken));
  assert.deepEqual(rows.topWeights, whole.topWeights.subarray(13 * slotsPerToken, 17 * slotsPerToken));
  assert.deepEqual(rows.sinkMass, whole.sinkMass.subarray(13 * numLayers * numHeads, 17 * numLayers * numHeads));
});

test('an unknown per-layer position form is reported as corrupt', () => {
  const [chunk] = attentionChunks(syntheticRun(TINY_SHAPE, 5));
  const bytes = chunk.bytes.slice();
  bytes[HEADER_BYTES + 1] = 3; // no width is 3 bytes
  const body = bytes.subarray(0, bytes.length - 32);
  bytes.set(createHash('sha256').update(body).digest(), body.length); // a well-formed checksum over a bad payload
  assert.throws(() => decodeChunk(bytes), (error: unknown) => error instanceof CorruptBlobError && /layer 1 has unknown attention position form 3/.test(error.message));
});

test('version-1 chunks still decode: u16 and i32 positions exactly, f16 values to their stored bits', () => {
  const { run, chunks } = codecV1Fixture();
  assert.ok(chunks.every((chunk) => chunk.version === 1));
  const decoded = chunks.map((chunk) => decodeChunk(chunk.bytes));
  const capture = assembleCapture(decoded, run.tokens.length, run.promptLength);
  const asStored = (values: Float32Array) => decodeHalf(encodeHalf(values));
  assert.deepEqual(capture.tokens, run.tokens);
  assert.deepEqual(capture.logprobs, run.logprobs);
  assert.deepEqual(capture.attention!.topPositions, run.attention!.topPositions, 'includes the position past 65535 (i32 form)');
  assert.deepEqual(capture.attention!.sinkMass, asStored(run.attention!.sinkMass));
  assert.deepEqual(capture.attention!.topWeights, asStored(run.attention!.topWeights));
  assert.deepEqual(capture.routing!.experts, run.routing!.experts);
  assert.deepEqual(capture.routing!.weights, asStored(run.routing!.weights));
  assert.deepEqual(capture.routing!.logits, asStored(run.routing!.logits));
});

const ranges = (chunks: EncodedChunk[], section: string) => chunks.filter((chunk) => chunk.section === section).map((chunk) => [chunk.tokenStart, chunk.tokenEnd]);
const pieces = (size: number, total: number) => Array.from({ length: total / size }, (_, i) => [i * size, (i + 1) * size]);

test('a section whose chunk would pass MAX_CHUNK_BYTES (4 MB) is split into the largest halving of chunkTokens that fits; the others keep chunkTokens', () => {
  assert.equal(MAX_CHUNK_BYTES, 4 * 1024 * 1024);
  // Attention: 600 layers x 2 heads x (2 + 4 x 3) bytes = 16.8 KB per token; 256 tokens pass 4 MB, 128 fit.
  const run = attentionRun(1024, 600, (token, _layer, slot) => token - slot);
  const chunks = encodeCapture(run);
  assert.deepEqual(ranges(chunks, 'attention'), pieces(128, 1024));
  assert.deepEqual(ranges(chunks, 'tokens'), [[0, 1024]]);
  assert.ok(chunks.every((chunk) => chunk.bytes.length <= MAX_CHUNK_BYTES));
  assert.deepEqual(decodedPositions(chunks.filter((chunk) => chunk.section === 'attention')), Array.from(run.attention!.topPositions));
});

test('raw router logits of the 120b shape (36 layers x 128 experts, 9.2 KB per token as f16) go in 256-token chunks; routing keeps 1,024', () => {
  const run = syntheticRun({ numLayers: 36, numExperts: 128, topK: 4, numHeads: 1, attentionTopK: 1, promptLength: 512, generated: 512 }, 5);
  const chunks = encodeCapture(run);
  assert.deepEqual(ranges(chunks, 'logits'), pieces(256, 1024));
  assert.deepEqual(ranges(chunks, 'routing'), [[0, 1024]]);
  assert.ok(chunks.every((chunk) => chunk.bytes.length <= MAX_CHUNK_BYTES));
  const stored = assembleCapture(chunks.map((chunk) => decodeChunk(chunk.bytes)), run.tokens.length, run.promptLength).routing!.logits;
  assert.deepEqual(stored, decodeHalf(encodeHalf(run.routing!.logits)));
});
