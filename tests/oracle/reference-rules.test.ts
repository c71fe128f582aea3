/**
 * The fp64 reference checked on cases small enough to work out by hand from the spec,
 * so that it can serve as the oracle for the ONNX graphs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT_OSS_20B, TINY_PRESETS, type GptOssConfig } from '../../lib/model/config';
import {
  SWIGLU_ALPHA,
  applyRope,
  attentionWithSinks,
  clampedSwiglu,
  expert,
  keyIsVisible,
  moe,
  referenceForward,
  rmsNorm,
  router,
  yarnFrequencies,
} from '../reference/forward64';
import { decodeMxfp4Block, decodeMxfp4Expert, e2m1Value } from '../reference/mxfp4';
import { randomWeightSource } from '../reference/random-weights';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const close = (actual: number, expected: number, tolerance = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`);

/** The tiny preset with a small vocabulary so whole-model tests stay fast. */
const smallVocab: GptOssConfig = { ...TINY_PRESETS.tiny, vocabSize: 300 };

// ---------------------------------------------------------------- MXFP4 (spec §3)

test('E2M1 nibbles decode to the spec table', () => {
  const specTable = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];
  specTable.forEach((value, nibble) => assert.equal(e2m1Value(nibble), value, `nibble ${nibble}`));
});

test('even element sits in the low nibble', () => {
  const block = new Uint8Array(16);
  block[0] = 0x21; // low nibble 1 (0.5), high nibble 2 (1.0)
  block[15] = 0xf9; // low nibble 9 (-0.5), high nibble 15 (-6)
  const values = decodeMxfp4Block(block, 127);
  assert.deepEqual([values[0], values[1], values[30], values[31]], [0.5, 1, -0.5, -6]);
});

test('scale byte s multiplies every element by 2^(s-127)', () => {
  const block = new Uint8Array(16).fill(0x22); // every element 1.0
  assert.equal(decodeMxfp4Block(block, 129)[5], 4);
  assert.equal(decodeMxfp4Block(block, 124)[5], 0.125);
});

test('decoded expert is [out, in] with 32-value blocks along the input axis', () => {
  // 2 experts, 2 rows, 64 inputs: 2 blocks per row.
  const blocks = new Uint8Array(2 * 2 * 2 * 16);
  const scales = new Uint8Array(2 * 2 * 2).fill(127);
  const blockOf = (e: number, row: number, group: number) => (e * 2 + row) * 2 + group;
  blocks[blockOf(1, 1, 1) * 16 + 3] = 0x07; // expert 1, row 1, element 32 + 6 = 6.0
  scales[blockOf(1, 0, 0)] = 128; // expert 1, row 0, first block doubled (all zeros anyway)
  const matrix = decodeMxfp4Expert({ blocks, scales, shape: [2, 2, 64] }, 1);
  assert.equal(matrix.length, 128);
  assert.equal(matrix[64 + 38], 6);
  assert.equal(matrix.reduce((a, b) => a + Math.abs(b), 0), 6);
});

// ---------------------------------------------------------------- RMSNorm (spec §4.3)

test('rms norm divides by sqrt(mean square + eps) and multiplies the weight directly', () => {
  const y = rmsNorm(Float64Array.of(3, 4), Float32Array.of(2, 1), 1e-5);
  const rms = Math.sqrt((9 + 16) / 2 + 1e-5);
  close(y[0], (3 / rms) * 2);
  close(y[1], 4 / rms);
});

// ---------------------------------------------------------------- YaRN RoPE (spec §4.4)

test('yarn band edges are 8.0928 and 17.3980 and concentration is 1.346574', () => {
  const rope = yarnFrequencies(GPT_OSS_20B.headDim, GPT_OSS_20B.ropeTheta, GPT_OSS_20B.yarn);
  close(rope.bandLow, 8.0928, 5e-5);
  close(rope.bandHigh, 17.398, 5e-5);
  close(rope.concentration, 1.346574, 5e-7);
});

test('yarn keeps pairs 0-8 at the original frequency, divides pairs 18-31 by 32 and blends between', () => {
  const rope = yarnFrequencies(64, 150000, GPT_OSS_20B.yarn);
  const original = (i: number) => 150000 ** (-i / 32);
  for (let i = 0; i <= 8; i++) close(rope.frequencies[i], original(i));
  for (let i = 18; i < 32; i++) close(rope.frequencies[i], original(i) / 32);
  const share = (12 - 8.092779) / (17.397966 - 8.092779);
  close(rope.frequencies[12], (1 - share) * original(12) + (share * original(12)) / 32, 1e-7);
});

test('llama.cpp yarn floors the low band edge and ceils the high one', () => {
  const rope = yarnFrequencies(64, 150000, GPT_OSS_20B.yarn, 'llamacpp');
  assert.equal(rope.bandLow, 8);
  assert.equal(rope.bandHigh, 18);
  const original = 150000 ** (-17 / 32);
  close(rope.frequencies[17], (1 - 9 / 10) * original + ((9 / 10) * original) / 32);
});

test('rope pairs dimension i with i + d/2 and scales cos and sin by the concentration', () => {
  const rope = { frequencies: Float64Array.of(1, 0.5), concentration: 1.5, bandLow: 0, bandHigh: 0 };
  const head = Float64Array.of(1, 0, 0, 2); // pair 0 = (1, 0), pair 1 = (0, 2)
  const out = applyRope(head, 3, rope);
  close(out[0], 1.5 * Math.cos(3));
  close(out[2], 1.5 * Math.sin(3));
  close(out[1], -2 * 1.5 * Math.sin(1.5));
  close(out[3], 2 * 1.5 * Math.cos(1.5));
});

test('rotated q·k depends only on the distance between positions', () => {
  const rope = yarnFrequencies(64, 150000, GPT_OSS_20B.yarn);
  const q = Float64Array.from({ length: 64 }, (_, i) => Math.sin(i + 1));
  const k = Float64Array.from({ length: 64 }, (_, i) => Math.cos(3 * i));
  const score = (qPos: number, kPos: number) => {
    const a = applyRope(q, qPos, rope);
    const b = applyRope(k, kPos, rope);
    return a.reduce((sum, v, i) => sum + v * b[i], 0);
  };
  close(score(10, 3), score(207, 200), 1e-9);
});

// ---------------------------------------------------------------- attention with sinks (spec §4.4)

test('sink mass equals exp(S) / (exp(S) + exp(s)) for a single key', () => {
  const { probabilities, sinkMass } = attentionWithSinks(Float64Array.of(0.7), -0.4);
  const expected = Math.exp(-0.4) / (Math.exp(-0.4) + Math.exp(0.7));
  close(sinkMass, expected);
  close(probabilities[0], 1 - expected);
});

test('masked keys get zero probability and the visible ones sum to one minus the sink mass', () => {
  const { probabilities, sinkMass } = attentionWithSinks(Float64Array.of(1, -Infinity, 2, 50), 3);
  assert.equal(probabilities[1], 0);
  close(probabilities.reduce((a, b) => a + b, 0) + sinkMass, 1);
  assert.ok(probabilities[3] > 0.999, 'a large logit is handled by max subtraction');
});

test('sliding window hides key t-128 but shows t-127; full layers show both', () => {
  assert.equal(keyIsVisible(200, 200 - 128, 128), false);
  assert.equal(keyIsVisible(200, 200 - 127, 128), true);
  assert.equal(keyIsVisible(200, 200 - 128, null), true);
  assert.equal(keyIsVisible(5, 6, null), false, 'causal');
});

test('in the whole model, sliding layers put zero weight on keys 128 back and full layers do not', () => {
  const source = randomWeightSource(smallVocab, 7);
  const tokens = Array.from({ length: 135 }, (_, t) => (t * 37) % smallVocab.vocabSize);
  const { layers } = referenceForward(source, tokens, { logitsAt: [] });
  const t = 134;
  for (let h = 0; h < smallVocab.numHeads; h++) {
    const sliding = layers[0].attentionProbs[t][h];
    const full = layers[1].attentionProbs[t][h];
    assert.equal(sliding[t - 128], 0);
    assert.ok(sliding[t - 127] > 0);
    assert.ok(full[t - 128] > 0);
    for (const layer of layers) {
      const total = layer.attentionProbs[t][h].reduce((a, b) => a + b, 0) + layer.sinkMass[t][h];
      close(total, 1, 1e-12);
    }
  }
});

// ---------------------------------------------------------------- router and experts (spec §4.5-§4.6)

test('router weights are a softmax over exactly k experts in descending logit order', () => {
  const E = 6;
  const identity = new Float32Array(E * E).map((_, i) => (i % (E + 1) === 0 ? 1 : 0));
  const x = Float64Array.of(0.1, 2, -1, 0.5, 1.5, 0.3);
  const routing = router(x, identity, new Float32Array(E), E, 4);
  assert.deepEqual(routing.experts, [1, 4, 3, 5]);
  close(routing.weights.reduce((a, b) => a + b, 0), 1);
  const denominator = Math.exp(2) + Math.exp(1.5) + Math.exp(0.5) + Math.exp(0.3);
  close(routing.weights[0], Math.exp(2) / denominator);
  assert.equal(routing.logits.length, E);
});

test('router bias is added before top-k and ties go to the lower expert id', () => {
  const W = new Float32Array(4 * 2); // all zero: logits are the bias
  const routing = router(Float64Array.of(1, 1), W, Float32Array.of(0.5, 1, 1, 0.2), 4, 2);
  assert.deepEqual(routing.experts, [1, 2]);
  close(routing.weights[0], 0.5);
});

test('clamped swiglu bounds gate from above only, linear both ways, and adds 1 to linear', () => {
  close(clampedSwiglu(10, 0, 7), 7 * sigmoid(SWIGLU_ALPHA * 7));
  close(clampedSwiglu(-10, 0, 7), -10 * sigmoid(-SWIGLU_ALPHA * 10));
  close(clampedSwiglu(1, -10, 7), sigmoid(SWIGLU_ALPHA) * -6);
  close(clampedSwiglu(1, 10, 7), sigmoid(SWIGLU_ALPHA) * 8);
});

test('expert reads gate from even rows and linear from odd rows', () => {
  // H = 2, I = 1: row 0 (gate) picks x[0], row 1 (linear) picks x[1].
  const weights = {
    gateUp: Float64Array.of(1, 0, 0, 1),
    gateUpBias: Float64Array.of(0, 0),
    down: Float64Array.of(1, 2),
    downBias: Float64Array.of(0.25, 0),
  };
  const y = expert(Float64Array.of(0.5, 2), weights, 1, 7);
  const h = 0.5 * sigmoid(SWIGLU_ALPHA * 0.5) * 3;
  close(y[0], h + 0.25);
  close(y[1], 2 * h);
});

test('moe sums each selected expert output, bias included, times its routing weight', () => {
  const constantExpert = (value: number) => ({
    gateUp: new Float64Array(2 * 1 * 1), gateUpBias: new Float64Array(2),
    down: new Float64Array(1), downBias: Float64Array.of(value),
  });
  const routing = { logits: new Float64Array(3), experts: [2, 0], weights: Float64Array.of(0.75, 0.25) };
  const y = moe(Float64Array.of(1), routing, (e) => constantExpert(10 ** e), 1, 7);
  close(y[0], 0.75 * 100 + 0.25 * 1);
});

// ---------------------------------------------------------------- whole model

test('logits at a position do not depend on later tokens', () => {
  const source = randomWeightSource(smallVocab, 3);
  const tokens = [5, 17, 250, 3, 3, 99, 42, 7, 1, 280];
  const full = referenceForward(source, tokens, { logitsAt: 'all' });
  const prefix = referenceForward(source, tokens.slice(0, 6), { logitsAt: 'last' });
  assert.deepEqual(prefix.logits[5], full.logits[5]);
  assert.deepEqual(prefix.layers[2].routerLogits[5], full.layers[2].routerLogits[5]);
  assert.notDeepEqual(full.logits[5], full.logits[6]);
});

test('the exact and llama.cpp yarn variants differ in the logits', () => {
  const source = randomWeightSource(smallVocab, 3);
  const tokens = [5, 17, 250, 3, 3, 99, 42, 7, 1, 280];
  const exact = referenceForward(source, tokens).logits[9]!;
  const llamacpp = referenceForward(source, tokens, { yarn: 'llamacpp' }).logits[9]!;
  const maxDifference = Math.max(...exact.map((v, i) => Math.abs(v - llamacpp[i])));
  assert.ok(maxDifference > 1e-9 && maxDifference < 1, `difference ${maxDifference}`);
});

test('a token id outside the vocabulary is rejected with its position named', () => {
  const source = randomWeightSource(smallVocab, 3);
  assert.throws(() => referenceForward(source, [1, 2, 300]), /token 300 at position 2 is outside the vocabulary 0\.\.299/);
  assert.throws(() => referenceForward(source, [1], { logitsAt: [1] }), /logitsAt position 1/);
});

test('a tensor of the wrong size is rejected with its name', () => {
  const source = randomWeightSource(smallVocab, 3);
  const broken = { ...source, dense: (name: string) => (name.endsWith('sinks') ? new Float32Array(1) : source.dense(name)) };
  assert.throws(() => referenceForward(broken, [1]), /model\.layers\.0\.self_attn\.sinks has 1 values, expected 4/);
});
