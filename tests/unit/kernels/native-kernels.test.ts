/**
 * The native kernels (kernels/native) element by element against fp64 references built from
 * the spec (tests/reference/mxfp4.ts, forward64.ts), on every instruction set this CPU has:
 * MXFP4 nibble order, negative zero, scale bias, the NaN scale, odd row and group counts; the
 * MoE layer (float and q8 inputs); decode attention; bf16 products; memory-mapped weights;
 * thread-count independence.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadNativeKernels, selfTest, supportedIsas, type ExpertInputs, type Isa, type NativeKernels } from '../../../kernels/native';
import { decodeBf16, f16ToFloat32, float32ToF16Bits } from '../../../lib/model/bf16';
import { moe as referenceMoe, type ExpertWeights } from '../../reference/forward64';
import { decodeMxfp4Expert } from '../../reference/mxfp4';
import { argmax } from '../../../lib/runtime/sampler';
import { seededRandom } from '../../reference/random-weights';

let native: NativeKernels;
let isas: Isa[];

before(() => {
  const load = loadNativeKernels();
  assert.ok(load.ok, `native kernels unavailable: ${load.ok ? '' : load.reason} (run npm run native:build)`);
  native = load.kernels;
  isas = supportedIsas(native);
});

after(() => native?.setThreads(1));

function randomBytes(count: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: count }, () => Math.floor(random() * 256));
}

function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => (random() * 2 - 1) * scale);
}

/** fp64 row dot products of an MXFP4 matrix [rows, cols] (the spec's decoder) with x. */
function referenceMatVec(blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number, x: ArrayLike<number>): Float64Array {
  const matrix = decodeMxfp4Expert({ blocks, scales, shape: [1, rows, cols] }, 0);
  return Float64Array.from({ length: rows }, (_, r) => {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += matrix[r * cols + c] * x[c];
    return sum;
  });
}

function oneHot(cols: number, at: number): Float32Array {
  const x = new Float32Array(cols);
  x[at] = 1;
  return x;
}

describe('MXFP4 dot products', () => {
  test('the even element is in the low nibble, the odd one in the high nibble', () => {
    const blocks = new Uint8Array(16);
    blocks[0] = 0x71; // element 0: nibble 1 = 0.5; element 1: nibble 7 = 6
    blocks[15] = 0xa3; // element 30: nibble 3 = 1.5; element 31: nibble 10 = -1
    const scales = Uint8Array.of(127);
    for (const isa of isas) {
      const at = (element: number) => native.mxfp4MatVec(blocks, scales, 1, 32, oneHot(32, element), isa)[0];
      assert.deepEqual([at(0), at(1), at(30), at(31), at(2)], [0.5, 6, 1.5, -1, 0], isa);
    }
  });

  test('every nibble decodes to its E2M1 value, and nibble 8 is negative zero (adds nothing)', () => {
    // Nibble 8 is -0; a sum of products starting from +0 turns it into +0.
    const expected = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6];
    for (const isa of isas) {
      for (let nibble = 0; nibble < 16; nibble++) {
        const blocks = new Uint8Array(16).fill(nibble | (nibble << 4));
        const got = native.mxfp4MatVec(blocks, Uint8Array.of(127), 1, 32, oneHot(32, 5), isa)[0];
        assert.equal(got, expected[nibble], `${isa} nibble ${nibble}`);
      }
      const negativeZeros = new Uint8Array(16).fill(0x88);
      const sum = native.mxfp4MatVec(negativeZeros, Uint8Array.of(200), 1, 32, randomFloats(32, 3, 1e6), isa)[0];
      assert.equal(sum, 0, `${isa}: -0 times anything finite sums to zero`);
    }
  });

  test('the scale is 2^(s - 127), from the subnormal 2^-127 to 2^127', () => {
    const blocks = new Uint8Array(16).fill(0x22); // every element 1.0
    const x = oneHot(32, 4);
    for (const isa of isas) {
      for (const s of [0, 1, 100, 126, 127, 128, 200, 254]) {
        const got = native.mxfp4MatVec(blocks, Uint8Array.of(s), 1, 32, x, isa)[0];
        assert.equal(got, Math.fround(2 ** (s - 127)), `${isa} scale byte ${s}`);
      }
    }
  });

  test('scale byte 0xFF is NaN and poisons its row only', () => {
    const blocks = new Uint8Array(3 * 2 * 16); // all zero nibbles: even 0 * NaN must be NaN
    const scales = Uint8Array.of(127, 127, 127, 0xff, 127, 127);
    for (const isa of isas) {
      const got = native.mxfp4MatVec(blocks, scales, 3, 64, randomFloats(64, 4), isa);
      assert.equal(got[0], 0, isa);
      assert.ok(Number.isNaN(got[1]), `${isa}: row with the NaN scale`);
      assert.equal(got[2], 0, isa);
    }
  });

  test('random rows match fp64 for odd row counts and odd and even group counts', (t) => {
    for (const [rows, cols] of [[1, 32], [7, 96], [13, 64], [5, 2880]] as const) {
      const blocks = randomBytes((rows * cols) / 2, rows * 31 + cols);
      const scales = Uint8Array.from(randomBytes((rows * cols) / 32, cols), (s) => 112 + (s % 24));
      const x = randomFloats(cols, rows);
      const expected = referenceMatVec(blocks, scales, rows, cols, x);
      const scalar = native.mxfp4MatVec(blocks, scales, rows, cols, x, 'scalar');
      for (const isa of isas) {
        const got = native.mxfp4MatVec(blocks, scales, rows, cols, x, isa);
        for (let r = 0; r < rows; r++) {
          // Float32 accumulation of `cols` products: bound by cols * eps32 times the sum of |terms|.
          const bound = cols * 2 ** -24 * Math.max(1, Math.abs(expected[r])) * 8;
          assert.ok(Math.abs(got[r] - expected[r]) <= bound, `${isa} [${rows}x${cols}] row ${r}: ${got[r]} vs ${expected[r]}`);
          assert.ok(Math.abs(got[r] - scalar[r]) <= bound, `${isa} vs scalar row ${r}`);
        }
      }
      t.diagnostic(`[${rows}x${cols}] checked on ${isas.join(', ')}`);
    }
  });
});

/** Round to nearest, ties to even (Math.round sends ties up). */
function roundHalfEven(value: number): number {
  const rounded = Math.round(value);
  return Math.abs(value % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** quantizeQ8's output, and the values it stands for (q times its block's step) in float64. */
function q8Inputs(x: Float32Array): { q: Int8Array; d: Float32Array; values: Float64Array } {
  const q = new Int8Array(x.length);
  const d = new Float32Array(x.length / 32);
  native.quantizeQ8(x, q, d);
  return { q, d, values: Float64Array.from(q, (value, i) => value * d[Math.floor(i / 32)]) };
}

describe('Q8 expert inputs (the lossy option)', () => {
  test('as llama.cpp\'s Q8_0: q = round(x * 127 / max|x|), the step max|x| / 127 rounded to f16, every element within about half a step', () => {
    const x = new Float32Array(5 * 32);
    x.set(randomFloats(32, 11, 3), 0);
    x.set(randomFloats(32, 12, 1e-30), 32); // a step below f16's range is 0, as in llama.cpp
    x.set(randomFloats(32, 13, 5e4), 96);
    x[100] = -7e4; // the largest magnitude is negative: it maps to -127
    const { q, d, values } = q8Inputs(x);
    assert.equal(d[1], 0, 'a step below f16 range flushes to 0');
    assert.equal(d[2], 0, 'an all-zero block has step 0');
    assert.equal(q[100], -127);
    for (let g = 0; g < 5; g++) {
      let max = 0;
      for (let i = g * 32; i < (g + 1) * 32; i++) max = Math.max(max, Math.abs(x[i]));
      assert.equal(d[g], f16ToFloat32(float32ToF16Bits(Math.fround(max / 127))), `block ${g} step`);
      if (g === 1) continue;
      for (let i = g * 32; i < (g + 1) * 32; i++) {
        const scaled = max > 0 ? Math.fround(x[i] * Math.fround(127 / max)) : 0;
        assert.equal(q[i], roundHalfEven(scaled), `element ${i}: ${x[i]} scaled to ${scaled}`);
        // The f16 step differs from max / 127 by at most 2^-11 of it: |q| * 2^-11 steps more than half a step.
        assert.ok(Math.abs(values[i] - x[i]) <= d[g] * (0.5 + 127 * 2 ** -11), `element ${i}: ${x[i]} became ${values[i]}`);
      }
    }
  });

  test('a NaN input makes its block\'s step NaN, so the dot is NaN', () => {
    const x = randomFloats(64, 14);
    x[40] = NaN;
    const { d } = q8Inputs(x);
    assert.ok(d[0] > 0);
    assert.ok(Number.isNaN(d[1]));
    const blocks = randomBytes(32, 15);
    for (const isa of isas) assert.ok(Number.isNaN(native.mxfp4MatVec(blocks, Uint8Array.of(127, 127), 1, 64, x, isa, 'q8')[0]), isa);
  });

  test('a Q8 dot is the fp64 dot of the quantized inputs up to float rounding, on every instruction set', () => {
    // Group counts 1-3, 5, 7 and 90: every tail of the kernels that take two or four groups at a time.
    for (const [rows, cols] of [[1, 32], [7, 96], [13, 64], [4, 160], [3, 224], [5, 2880]] as const) {
      const blocks = randomBytes((rows * cols) / 2, rows * 17 + cols);
      const scales = Uint8Array.from(randomBytes((rows * cols) / 32, cols + 1), (s) => 112 + (s % 24));
      scales[0] = 0; // the subnormal scale 2^-127 times a step
      if (rows > 2) scales[(2 * cols) / 32 + 1] = 1; // 2^-126, the smallest normal scale
      const x = randomFloats(cols, rows + 100, 4);
      const expected = referenceMatVec(blocks, scales, rows, cols, q8Inputs(x).values);
      const exact = referenceMatVec(blocks, scales, rows, cols, x);
      for (const isa of isas) {
        const got = native.mxfp4MatVec(blocks, scales, rows, cols, x, isa, 'q8');
        for (let r = 0; r < rows; r++) {
          const bound = (cols / 32) * 2 ** -23 * Math.max(1, Math.abs(expected[r])) * 8;
          assert.ok(Math.abs(got[r] - expected[r]) <= bound, `${isa} [${rows}x${cols}] row ${r}: ${got[r]} vs ${expected[r]}`);
        }
        if (cols >= 96) assert.ok(got.some((value, r) => value !== Math.fround(exact[r])), `${isa}: the Q8 path computes on rounded inputs, not the exact ones`);
      }
    }
  });

  test('the NaN scale byte poisons its row on the Q8 path too', () => {
    const scales = Uint8Array.of(127, 127, 127, 127, 127, 127, 0xff, 127);
    for (const isa of isas) {
      const got = native.mxfp4MatVec(new Uint8Array(2 * 4 * 16), scales, 2, 128, randomFloats(128, 16), isa, 'q8');
      assert.equal(got[0], 0, isa);
      assert.ok(Number.isNaN(got[1]), isa);
    }
  });
});

describe('MoE layer', () => {
  const E = 5;
  const H = 64;
  const I = 96;
  const k = 2;
  const S = 3;
  const limit = 7;
  const gateUpBlocks = randomBytes((E * 2 * I * H) / 2, 1);
  const gateUpScales = Uint8Array.from(randomBytes((E * 2 * I * H) / 32, 2), (s) => 120 + (s % 6));
  const downBlocks = randomBytes((E * H * I) / 2, 3);
  const downScales = Uint8Array.from(randomBytes((E * H * I) / 32, 4), (s) => 120 + (s % 6));
  const gateUpBias = randomFloats(E * 2 * I, 5, 0.2);
  const downBias = randomFloats(E * H, 6, 0.05);
  const x = randomFloats(S * H, 7);
  const residual = randomFloats(S * H, 8);
  const ids = Int32Array.of(4, 1, 1, 0, 2, 4);
  const weights = Float32Array.of(0.7, 0.3, 0.55, 0.45, 0.9, 0.1);

  function run(isa: Isa, tokens = S, inputs: ExpertInputs = 'f32'): Float32Array {
    const out = new Float32Array(tokens * H);
    native.moe({
      tokens, hidden: H, intermediate: I, experts: E, k, swigluLimit: limit, swigluAlpha: 1.702,
      gateUpBlocks, gateUpScales, gateUpBias, downBlocks, downScales, downBias,
      x, ids, weights, residual, out, isa, inputs,
    });
    return out;
  }

  test('matches the fp64 reference MoE (top-k experts, clamped SwiGLU, biases, residual)', () => {
    const expertWeights = (e: number): ExpertWeights => ({
      gateUp: decodeMxfp4Expert({ blocks: gateUpBlocks, scales: gateUpScales, shape: [E, 2 * I, H] }, e),
      gateUpBias: gateUpBias.subarray(e * 2 * I, (e + 1) * 2 * I),
      down: decodeMxfp4Expert({ blocks: downBlocks, scales: downScales, shape: [E, H, I] }, e),
      downBias: downBias.subarray(e * H, (e + 1) * H),
    });
    for (const isa of isas) {
      const got = run(isa);
      for (let t = 0; t < S; t++) {
        const routing = { logits: new Float64Array(E), experts: Array.from(ids.subarray(t * k, (t + 1) * k)), weights: Float64Array.from(weights.subarray(t * k, (t + 1) * k)) };
        const y = referenceMoe(Float64Array.from(x.subarray(t * H, (t + 1) * H)), routing, expertWeights, I, limit);
        let scale = 0;
        for (const v of y) scale = Math.max(scale, Math.abs(v));
        for (let r = 0; r < H; r++) {
          const want = residual[t * H + r] + y[r];
          assert.ok(Math.abs(got[t * H + r] - want) <= 2e-6 * Math.max(1, scale), `${isa} token ${t} row ${r}: ${got[t * H + r]} vs ${want}`);
        }
      }
    }
  });

  test('results are bitwise identical at 1 and 2 threads, for prefill and decode shapes, with f32 and Q8 inputs', () => {
    for (const isa of isas) {
      for (const inputs of ['f32', 'q8'] as const) {
        for (const tokens of [1, S]) {
          native.setThreads(1);
          const one = run(isa, tokens, inputs);
          native.setThreads(2);
          const two = run(isa, tokens, inputs);
          assert.deepEqual(Buffer.from(two.buffer), Buffer.from(one.buffer), `${isa} ${inputs}, ${tokens} token(s)`);
        }
      }
    }
    native.setThreads(1);
  });

  test('Q8 inputs move the MoE output by about their rounding: more than float rounding, under 2% of its scale', () => {
    for (const isa of isas) {
      const exact = run(isa);
      const q8 = run(isa, S, 'q8');
      let scale = 0;
      let drift = 0;
      for (let i = 0; i < exact.length; i++) {
        scale = Math.max(scale, Math.abs(exact[i] - residual[i]));
        drift = Math.max(drift, Math.abs(q8[i] - exact[i]));
      }
      assert.ok(drift > 1e-5 * scale && drift < 0.02 * scale, `${isa}: drift ${drift} against an output scale ${scale}`);
    }
  });

  test('a token\'s MoE output is bitwise the same alone (decode) as in a prefill batch whose experts serve more slots than one kernel block', () => {
    const tokens = 11; // expert 3 gets every token: three blocks of four slots
    const batchX = randomFloats(tokens * H, 30);
    const batchResidual = randomFloats(tokens * H, 31);
    const batchIds = Int32Array.from({ length: tokens * k }, (_, slot) => (slot % k === 0 ? 3 : slot % E === 3 ? 1 : slot % E));
    const batchWeights = Float32Array.from({ length: tokens * k }, (_, slot) => (slot % k === 0 ? 0.6 : 0.4));
    const moe = (isa: Isa, first: number, count: number, inputs: ExpertInputs): Float32Array => {
      const out = new Float32Array(count * H);
      native.moe({
        tokens: count, hidden: H, intermediate: I, experts: E, k, swigluLimit: limit, swigluAlpha: 1.702,
        gateUpBlocks, gateUpScales, gateUpBias, downBlocks, downScales, downBias,
        x: batchX.slice(first * H, (first + count) * H), ids: batchIds.slice(first * k, (first + count) * k),
        weights: batchWeights.slice(first * k, (first + count) * k), residual: batchResidual.slice(first * H, (first + count) * H), out, isa, inputs,
      });
      return out;
    };
    for (const isa of isas) {
      for (const inputs of ['f32', 'q8'] as const) {
        const batch = moe(isa, 0, tokens, inputs);
        for (let t = 0; t < tokens; t++) {
          assert.deepEqual(Buffer.from(moe(isa, t, 1, inputs).buffer), Buffer.from(batch.slice(t * H, (t + 1) * H).buffer), `${isa} ${inputs} token ${t}`);
        }
      }
    }
  });

  test('an expert id outside [0, E) is a RangeError, not a read out of bounds', () => {
    const bad = Int32Array.of(0, 5, 1, 2, 3, 4);
    assert.throws(
      () => native.moe({ tokens: S, hidden: H, intermediate: I, experts: E, k, swigluLimit: limit, swigluAlpha: 1.702, gateUpBlocks, gateUpScales, gateUpBias, downBlocks, downScales, downBias, x, ids: bad, weights, out: new Float32Array(S * H) }),
      /expert id 5 is outside \[0, 5\)/,
    );
  });
});

// 72: the AVX2 kernel's 32-column blocks and an 8-column tail; 12: not a multiple of 8 (its scalar path).
for (const d of [72, 12]) describe(`decode attention, head width ${d}`, () => {
  const [heads, kvHeads, capacity, position] = [6, 2, 48, 37];
  const q = randomFloats(heads * d, 90, 2);
  const k = randomFloats(kvHeads * d, 91, 2);
  const v = randomFloats(kvHeads * d, 92);
  const sinks = randomFloats(heads, 93, 3);
  const angles = Array.from({ length: d / 2 }, (_, i) => position * 10000 ** (-2 * i / d));
  const cos = Float32Array.from(angles, Math.cos);
  const sin = Float32Array.from(angles, Math.sin);
  const pastKeys = randomFloats(kvHeads * capacity * d, 94, 2);
  const pastValues = randomFloats(kvHeads * capacity * d, 95);

  function run(window: number, isa?: Isa): { context: Float32Array; probs: Float32Array; keys: Float32Array; values: Float32Array } {
    const keys = pastKeys.slice();
    const values = pastValues.slice();
    const context = new Float32Array(heads * d);
    const probs = new Float32Array(heads * (position + 1));
    native.attentionDecode({ heads, kvHeads, headDim: d, position, window, capacity, scale: 1 / Math.sqrt(d), q, k, v, cos, sin, sinks, keys, values, context, probs, isa });
    return { context, probs, keys, values };
  }

  const rotate = (x: ArrayLike<number>, at: number) => {
    const out = new Float64Array(d);
    for (let i = 0; i < d / 2; i++) {
      out[i] = x[at + i] * cos[i] - x[at + i + d / 2] * sin[i];
      out[i + d / 2] = x[at + i + d / 2] * cos[i] + x[at + i] * sin[i];
    }
    return out;
  };

  test('matches fp64 on every instruction set: each query head reads its KV head, the sink joins the softmax, only the window\'s keys count', () => {
    for (const [window, isa] of isas.flatMap((isa) => [[0, isa], [8, isa]] as const)) {
      const { context, probs, keys, values } = run(window, isa);
      const newKeys = Array.from({ length: kvHeads }, (_, kh) => rotate(k, kh * d));
      for (let kh = 0; kh < kvHeads; kh++) {
        for (let i = 0; i < d; i++) {
          assert.ok(Math.abs(keys[(kh * capacity + position) * d + i] - newKeys[kh][i]) < 1e-6, 'the new key is stored rotated at its position');
          assert.equal(values[(kh * capacity + position) * d + i], v[kh * d + i]);
        }
      }
      const first = window > 0 ? position - window + 1 : 0;
      for (let h = 0; h < heads; h++) {
        const kh = Math.floor(h / (heads / kvHeads));
        const query = rotate(q, h * d);
        const scores = Array.from({ length: position + 1 }, (_, j) => {
          if (j < first) return -Infinity;
          const key = j === position ? newKeys[kh] : pastKeys.subarray((kh * capacity + j) * d, (kh * capacity + j + 1) * d);
          let dot = 0;
          for (let i = 0; i < d; i++) dot += query[i] * key[i];
          return dot / Math.sqrt(d);
        });
        const max = Math.max(sinks[h], ...scores);
        const denominator = Math.exp(sinks[h] - max) + scores.reduce((sum, score) => sum + Math.exp(score - max), 0);
        for (let j = 0; j <= position; j++) {
          const want = Math.exp(scores[j] - max) / denominator;
          assert.ok(Math.abs(probs[h * (position + 1) + j] - want) < 1e-6, `${isa} window ${window} head ${h} key ${j}: ${probs[h * (position + 1) + j]} vs ${want}`);
        }
        for (let i = 0; i < d; i++) {
          let want = 0;
          for (let j = first; j <= position; j++) want += (Math.exp(scores[j] - max) / denominator) * values[(kh * capacity + j) * d + i];
          assert.ok(Math.abs(context[h * d + i] - want) < 1e-5, `${isa} window ${window} head ${h} context ${i}`);
        }
      }
    }
  });

  test('results are bitwise identical at 1 and 2 threads on every instruction set', () => {
    for (const isa of isas) {
      native.setThreads(1);
      const one = run(8, isa);
      native.setThreads(2);
      const two = run(8, isa);
      native.setThreads(1);
      assert.deepEqual(Buffer.from(two.context.buffer), Buffer.from(one.context.buffer), isa);
      assert.deepEqual(Buffer.from(two.probs.buffer), Buffer.from(one.probs.buffer), isa);
    }
  });

  test('a position outside the cache is a RangeError', () => {
    assert.throws(
      () => native.attentionDecode({ heads, kvHeads, headDim: d, position: capacity, window: 0, capacity, scale: 1, q, k, v, cos, sin, sinks, keys: pastKeys.slice(), values: pastValues.slice(), context: new Float32Array(heads * d) }),
      /position must be in \[0, capacity\)/,
    );
  });
});

describe('bf16 and helpers', () => {
  test('bf16 products match fp64 for odd widths and several tokens', () => {
    for (const [rows, cols, tokens] of [[3, 37, 2], [17, 2880, 1], [4, 64, 3]] as const) {
      const matrix = bf16Matrix(rows, cols, cols);
      const w = decodeBf16(new Uint8Array(matrix.buffer));
      const x = randomFloats(tokens * cols, rows);
      for (const isa of isas) {
        const out = new Float32Array(tokens * rows);
        native.bf16MatMul(matrix, rows, cols, x, tokens, out, isa);
        for (let t = 0; t < tokens; t++) {
          for (let r = 0; r < rows; r++) {
            const { sum, magnitude } = dot64(w, x, r, t, cols);
            assert.ok(Math.abs(out[t * rows + r] - sum) <= cols * 2 ** -24 * magnitude, `${isa} [${rows}x${cols}] token ${t} row ${r}`);
          }
        }
      }
    }
  });

  /** bf16 bytes with random signs and |w| in [2^-8, 1). */
  function bf16Matrix(rows: number, cols: number, seed: number): Uint16Array {
    const bytes = randomBytes(rows * cols * 2, seed);
    for (let i = 1; i < bytes.length; i += 2) bytes[i] = (bytes[i] & 0x83) | 0x3c;
    return new Uint16Array(bytes.buffer);
  }

  /** Row r of w times token t of x in float64, and the sum of the terms' magnitudes (the error scale). */
  function dot64(w: ArrayLike<number>, x: ArrayLike<number>, r: number, t: number, cols: number): { sum: number; magnitude: number } {
    let sum = 0;
    let magnitude = 0;
    for (let c = 0; c < cols; c++) {
      sum += w[r * cols + c] * x[t * cols + c];
      magnitude += Math.abs(w[r * cols + c] * x[t * cols + c]);
    }
    return { sum, magnitude };
  }

  test('a fused q/k/v call adds each bias (and the residual after it) and matches fp64 and the scalar reference, for a block of tokens and for one', () => {
    for (const tokens of [6, 1]) fusedProjectionsMatchFp64(tokens);
  });

  function fusedProjectionsMatchFp64(tokens: number): void {
    const cols = 2880 + 37;
    const shapes = [13, 5, 5];
    const weights = shapes.map((rows, i) => bf16Matrix(rows, cols, 40 + i));
    const biases = shapes.map((rows, i) => randomFloats(rows, 50 + i));
    const residual = randomFloats(tokens * shapes[2], 60, 4);
    const x = randomFloats(tokens * cols, 61);
    const results = new Map<Isa, Float32Array[]>();
    for (const isa of isas) {
      const outs = shapes.map((rows) => new Float32Array(tokens * rows));
      native.bf16Linear({
        x,
        tokens,
        cols,
        isa,
        projections: shapes.map((rows, i) => ({ weight: weights[i], rows, bias: biases[i], residual: i === 2 ? residual : undefined, out: outs[i] })),
      });
      results.set(isa, outs);
      shapes.forEach((rows, i) => {
        const w = decodeBf16(new Uint8Array(weights[i].buffer));
        for (let t = 0; t < tokens; t++) {
          for (let r = 0; r < rows; r++) {
            const { sum, magnitude } = dot64(w, x, r, t, cols);
            const want = sum + biases[i][r] + (i === 2 ? residual[t * rows + r] : 0);
            const got = outs[i][t * rows + r];
            assert.ok(Math.abs(got - want) <= cols * 2 ** -24 * magnitude + 2 ** -22 * (Math.abs(want) + 8), `${isa} projection ${i} token ${t} of ${tokens} row ${r}: ${got} vs ${want}`);
          }
        }
      });
    }
    const scalar = results.get('scalar')!;
    for (const [isa, outs] of results) {
      outs.forEach((out, i) => {
        for (let j = 0; j < out.length; j++) assert.ok(Math.abs(out[j] - scalar[i][j]) <= 1e-4 * Math.max(1, Math.abs(scalar[i][j])), `${isa} against scalar, projection ${i} element ${j} (${tokens} tokens)`);
      });
    }
  }

  test('a token\'s bf16 product is bitwise the same alone (decode) as in a block of tokens (prefill)', () => {
    const [rows, cols, tokens] = [9, 1000, 7];
    const w = bf16Matrix(rows, cols, 70);
    const x = randomFloats(tokens * cols, 71);
    for (const isa of isas) {
      const block = new Float32Array(tokens * rows);
      native.bf16MatMul(w, rows, cols, x, tokens, block, isa);
      for (let t = 0; t < tokens; t++) {
        const alone = new Float32Array(rows);
        native.bf16MatMul(w, rows, cols, x.slice(t * cols, (t + 1) * cols), 1, alone, isa);
        assert.deepEqual(Array.from(alone), Array.from(block.subarray(t * rows, (t + 1) * rows)), `${isa} token ${t}`);
      }
    }
  });

  test('bf16 products are bitwise identical at 1 and 2 threads', () => {
    const [cols, tokens] = [512, 5];
    const shapes = [517, 64, 3];
    const weights = shapes.map((rows, i) => bf16Matrix(rows, cols, 80 + i));
    const x = randomFloats(tokens * cols, 89);
    const run = (isa: Isa) => {
      const outs = shapes.map((rows) => new Float32Array(tokens * rows));
      native.bf16Linear({ x, tokens, cols, isa, projections: shapes.map((rows, i) => ({ weight: weights[i], rows, out: outs[i] })) });
      return Buffer.concat(outs.map((out) => Buffer.from(out.buffer)));
    };
    for (const isa of isas) {
      native.setThreads(1);
      const one = run(isa);
      native.setThreads(2);
      assert.deepEqual(run(isa), one, isa);
    }
    native.setThreads(1);
  });

  test('embedding rows are gathered exactly; a row outside the table is refused', () => {
    const bytes = randomBytes(6 * 32 * 2, 9);
    const table = decodeBf16(bytes);
    const out = new Float32Array(2 * 32);
    native.bf16GatherRows(new Uint16Array(bytes.buffer), 6, 32, Int32Array.of(5, 0), out);
    assert.deepEqual(Array.from(out), [...table.subarray(160, 192), ...table.subarray(0, 32)]);
    assert.throws(() => native.bf16GatherRows(new Uint16Array(bytes.buffer), 6, 32, Int32Array.of(6), out), /row 6 is outside/);
  });

  test('log-sum-exp over 201,088 logits (float exp, float64 sum) is within 1e-8 of float64 on every instruction set', () => {
    const logits = randomFloats(201085, 10, 20); // not a multiple of 8: the vector loop's tail counts too
    let max = -Infinity;
    for (const z of logits) max = Math.max(max, z);
    let sum = 0;
    for (const z of logits) sum += Math.exp(z - max);
    for (const isa of isas) assert.ok(Math.abs(native.logitStats(logits, isa).logSumExp - (max + Math.log(sum))) < 1e-8, isa);
  });

  test('log-sum-exp is NaN when any logit is NaN, infinite when the largest is, and drops terms below e^-80 of the largest', () => {
    for (const isa of isas) {
      const logits = new Float32Array(37).fill(1);
      logits[35] = Number.NaN;
      assert.deepEqual(native.logitStats(logits, isa), { logSumExp: Number.NaN, argmax: -1 }, isa);
      logits[35] = Number.POSITIVE_INFINITY;
      assert.deepEqual(native.logitStats(logits, isa), { logSumExp: Number.POSITIVE_INFINITY, argmax: 35 }, isa);
      const spread = Float32Array.of(0, -79, -81, -200, -1e30, 0, 0, 0, 0);
      const expected = Math.log(5 + Math.exp(-79));
      assert.ok(Math.abs(native.logitStats(spread, isa).logSumExp - expected) < 1e-12, isa);
    }
  });

  test('the argmax is the first index of the largest logit, as the JS greedy pick takes it, in the vector body and the tail', () => {
    for (const isa of isas) {
      const logits = randomFloats(1003, 5, 21);
      assert.equal(native.logitStats(logits, isa).argmax, argmax(logits), isa);
      for (const at of [0, 7, 8, 500, 999, 1002]) {
        const tied = Float32Array.from(logits);
        tied[at] = 100;
        tied[1002 - ((at + 3) % 5)] = 100; // a tie at or after it
        assert.equal(native.logitStats(tied, isa).argmax, Math.min(at, 1002 - ((at + 3) % 5)), `${isa} at ${at}`);
      }
      assert.equal(native.logitStats(new Float32Array(19).fill(Number.NEGATIVE_INFINITY), isa).argmax, 0, `${isa}: all -Infinity`);
    }
  });

  test('weights read through a memory-mapped file equal the same bytes in memory; bounds and close are checked', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-mmap-'));
    try {
      const rows = 3;
      const cols = 64;
      const blocks = randomBytes((rows * cols) / 2, 11);
      const scales = Uint8Array.from(randomBytes((rows * cols) / 32, 12), (s) => 120 + (s % 8));
      const file = path.join(dir, 'weights.bin');
      const header = new Uint8Array(13); // an odd offset, as tensors sit inside a shard
      fs.writeFileSync(file, Buffer.concat([header, blocks, scales]));
      const mapped = new native.MappedFile(file);
      assert.equal(mapped.byteLength, 13 + blocks.length + scales.length);
      const x = randomFloats(cols, 13);
      const fromFile = native.mxfp4MatVec({ file: mapped, offset: 13 }, { file: mapped, offset: 13 + blocks.length }, rows, cols, x);
      assert.deepEqual(Array.from(fromFile), Array.from(native.mxfp4MatVec(blocks, scales, rows, cols, x)));
      assert.throws(() => native.mxfp4MatVec({ file: mapped, offset: 14 + blocks.length }, scales, rows, cols, x), /outside/);
      mapped.close();
      assert.throws(() => native.mxfp4MatVec({ file: mapped, offset: 13 }, scales, rows, cols, x), /closed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the startup self-test passes on this machine', () => {
    assert.equal(selfTest(native), null);
  });
});
