import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GPT_OSS_20B } from '../../../lib/model/config';
import { yarnBandEdges, yarnConcentration, yarnFrequencies, yarnRopeTables } from '../../../kernels/yarn';

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);

test('exact band edges are not rounded (8.0928 / 17.398 for head_dim 64, theta 150000, L0 4096)', () => {
  const { low, high } = yarnBandEdges(GPT_OSS_20B, 'exact');
  close(low, 8.0928, 5e-5, 'low');
  close(high, 17.398, 5e-4, 'high');
});

test('llama.cpp band edges are floored and ceiled (8 / 18)', () => {
  assert.deepEqual(yarnBandEdges(GPT_OSS_20B, 'llamacpp'), { low: 8, high: 18 });
});

test('concentration is 0.1 ln(32) + 1 = 1.346574', () => {
  close(yarnConcentration(32), 1.346574, 5e-7, 'concentration');
});

test('pairs below the band keep their frequency, pairs above are divided by the factor', () => {
  for (const mode of ['exact', 'llamacpp'] as const) {
    const f = yarnFrequencies(GPT_OSS_20B, mode);
    for (let i = 0; i < 32; i++) {
      const original = 150000 ** (-i / 32);
      if (i <= 8) close(f[i], original, original * 1e-12, `${mode} pair ${i}`);
      if (i >= 18) close(f[i], original / 32, original * 1e-12, `${mode} pair ${i}`);
      if (i > 8 && i < 18) assert.ok(f[i] < original && f[i] > original / 32, `${mode} pair ${i} is blended`);
    }
  }
});

test('the two modes differ only inside the blend band', () => {
  const exact = yarnFrequencies(GPT_OSS_20B, 'exact');
  const llama = yarnFrequencies(GPT_OSS_20B, 'llamacpp');
  for (let i = 0; i < 32; i++) {
    if (i <= 8 || i >= 18) assert.equal(exact[i], llama[i], `pair ${i}`);
    else assert.notEqual(exact[i], llama[i], `pair ${i}`);
  }
  // Pair 9 sits just past the exact low edge (ramp 0.0969...) but 1/10 of the way through [8, 18].
  const original = 150000 ** (-9 / 32);
  const blend = (ramp: number) => (1 - ramp) * original + (ramp * original) / 32;
  close(exact[9], blend((9 - 8.0928) / (17.398 - 8.0928)), original * 1e-4, 'exact pair 9');
  close(llama[9], blend(0.1), original * 1e-12, 'llamacpp pair 9');
});

test('tables hold c cos(p f) and c sin(p f) rounded to float32', () => {
  const tables = yarnRopeTables(GPT_OSS_20B, 300, 'exact');
  assert.equal(tables.cos.length, 300 * 32);
  const c = tables.concentration;
  for (const [p, i] of [[0, 0], [1, 0], [299, 5], [257, 31], [123, 12]]) {
    const angle = p * tables.frequencies[i];
    assert.equal(tables.cos[p * 32 + i], Math.fround(c * Math.cos(angle)));
    assert.equal(tables.sin[p * 32 + i], Math.fround(c * Math.sin(angle)));
  }
  assert.equal(tables.cos[0], Math.fround(c));
  assert.equal(tables.sin[0], 0);
});

test('a non-positive table length is rejected with its value', () => {
  assert.throws(() => yarnRopeTables(GPT_OSS_20B, 0, 'exact'), /maxPositions must be a positive integer \(got 0\)/);
});
