/**
 * Real onnxruntime sessions on random tiny weights: the fused graph (contrib ops, KV cache) agrees
 * with the reference graph (standard ops), and incremental decoding equals one long prefill.
 * 160 tokens > the 128-key sliding window, so the window matters.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type * as ort from 'onnxruntime-node';
import {
  buildGptOssGraph,
  createSession,
  forwardFeeds,
  nextKvCache,
  type BuiltGraph,
  type GraphOptions,
  type KvCache,
} from '../../../kernels/index';
import { CheckpointError } from '../../../lib/model/errors';
import { randomTokens, randomWeights, TEST_CONFIG } from './random-weights';

const SEQUENCE = 160;
const WINDOW = TEST_CONFIG.slidingWindow;
const weights = randomWeights();
const tokens = randomTokens(SEQUENCE, TEST_CONFIG.vocabSize);
const L = TEST_CONFIG.numLayers;
const Hq = TEST_CONFIG.numHeads;
const K = TEST_CONFIG.expertsPerToken;
const E = TEST_CONFIG.numExperts;
const V = TEST_CONFIG.vocabSize;
const TOP = 8;

const baseOptions: GraphOptions = {
  variant: 'fused',
  capture: { routing: true, attention: true, attentionTopK: TOP },
  logits: 'all',
  yarn: 'exact',
  experts: 'float',
  maxPositions: 256,
};

type Results = ort.InferenceSession.OnnxValueMapType;

async function runOnce(built: BuiltGraph, ids: number[], cache: KvCache | null = null): Promise<Results> {
  const session = await createSession(built);
  try {
    return await session.run(forwardFeeds(built.io, ids, cache));
  } finally {
    await session.release();
  }
}

function floats(results: Results, name: string): Float32Array {
  return results[name].data as Float32Array;
}

function ints(results: Results, name: string): number[] {
  return Array.from(results[name].data as BigInt64Array, Number);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const gap = Math.abs(actual[i] - expected[i]);
    if (!(gap <= worst)) [worst, at] = [gap, i];
  }
  assert.ok(worst <= tolerance, `${what}: max |diff| ${worst} at ${at} exceeds ${tolerance}`);
}

/** Top positions agree wherever the weight is not (near) tied with a neighbour in the sorted list. */
function assertSamePositions(actual: number[], expected: number[], weights: Float32Array, kk: number, what: string): void {
  for (let i = 0; i < actual.length; i++) {
    const slot = i % kk;
    const tiedBefore = slot > 0 && Math.abs(weights[i] - weights[i - 1]) < 1e-5;
    const tiedAfter = slot < kk - 1 && Math.abs(weights[i] - weights[i + 1]) < 1e-5;
    if (!tiedBefore && !tiedAfter) assert.equal(actual[i], expected[i], `${what}: entry ${i}`);
  }
}

let fused: Results;
let reference: Results;

before(async () => {
  fused = await runOnce(buildGptOssGraph(weights, baseOptions), tokens);
  reference = await runOnce(buildGptOssGraph(weights, { ...baseOptions, variant: 'reference' }), tokens);
});

test('fused and reference graphs produce the same logits over 160 tokens', () => {
  assert.deepEqual(fused.logits.dims, [1, SEQUENCE, V]);
  assertClose(floats(fused, 'logits'), floats(reference, 'logits'), 2e-4, 'logits');
});

test('fused and reference graphs agree on router logits, top-k ids and routing weights', () => {
  for (let l = 0; l < L; l++) {
    const b = `blk.${l}`;
    assert.deepEqual(fused[`${b}.ffn_moe_logits`].dims, [SEQUENCE, E]);
    assert.deepEqual(fused[`${b}.ffn_moe_topk`].dims, [SEQUENCE, K]);
    assertClose(floats(fused, `${b}.ffn_moe_logits`), floats(reference, `${b}.ffn_moe_logits`), 1e-4, `${b} router logits`);
    assert.deepEqual(ints(fused, `${b}.ffn_moe_topk`), ints(reference, `${b}.ffn_moe_topk`), `${b} top-k ids`);
    assertClose(floats(fused, `${b}.ffn_moe_weights`), floats(reference, `${b}.ffn_moe_weights`), 1e-5, `${b} routing weights`);
  }
});

test('routing weights are a softmax over the k selected logits, in descending logit order', () => {
  const logits = floats(fused, 'blk.2.ffn_moe_logits');
  const ids = ints(fused, 'blk.2.ffn_moe_topk');
  const routing = floats(fused, 'blk.2.ffn_moe_weights');
  for (const t of [0, 77, SEQUENCE - 1]) {
    const row = Array.from(logits.subarray(t * E, (t + 1) * E));
    const chosen = ids.slice(t * K, (t + 1) * K);
    const expectedIds = row.map((v, e) => [v, e]).sort((a, b) => b[0] - a[0]).slice(0, K).map(([, e]) => e);
    assert.deepEqual(chosen, expectedIds, `token ${t} ids`);
    const exps = chosen.map((e) => Math.exp(row[e] - row[chosen[0]]));
    const total = exps.reduce((a, b) => a + b, 0);
    assertClose(routing.subarray(t * K, (t + 1) * K), exps.map((x) => x / total), 1e-6, `token ${t} weights`);
  }
});

test('fused and reference graphs agree on sink mass and attended positions', () => {
  for (let l = 0; l < L; l++) {
    const b = `blk.${l}`;
    assert.deepEqual(fused[`${b}.attn_sink_mass`].dims, [SEQUENCE, Hq]);
    assert.deepEqual(fused[`${b}.attn_top_pos`].dims, [SEQUENCE, Hq, TOP]);
    assertClose(floats(fused, `${b}.attn_sink_mass`), floats(reference, `${b}.attn_sink_mass`), 1e-5, `${b} sink mass`);
    const topWeights = floats(fused, `${b}.attn_top_weights`);
    assertClose(topWeights, floats(reference, `${b}.attn_top_weights`), 1e-5, `${b} top weights`);
    assertSamePositions(ints(fused, `${b}.attn_top_pos`), ints(reference, `${b}.attn_top_pos`), topWeights, TOP, `${b} top positions`);
  }
});

test('a sliding layer never attends further back than 127 positions; a full layer does', () => {
  const farthestBack = (layer: number) => {
    const positions = ints(fused, `blk.${layer}.attn_top_pos`);
    let farthest = 0;
    for (let i = 0; i < positions.length; i++) {
      const t = Math.floor(i / (Hq * TOP));
      if (positions[i] >= 0) farthest = Math.max(farthest, t - positions[i]);
    }
    return farthest;
  };
  assert.ok(farthestBack(0) <= WINDOW - 1, `sliding layer reached back ${farthestBack(0)}`);
  assert.ok(farthestBack(1) >= WINDOW, `full layer only reached back ${farthestBack(1)}`);
});

test('sink mass lies in (0, 1) and early rows pad attended positions with -1', () => {
  for (const v of floats(fused, 'blk.0.attn_sink_mass')) assert.ok(v > 0 && v < 1, `sink mass ${v}`);
  // Row 0 sees one key: the rest of its kept slots are padding.
  const positions = ints(fused, 'blk.1.attn_top_pos');
  const weights = floats(fused, 'blk.1.attn_top_weights');
  for (let h = 0; h < Hq; h++) {
    assert.equal(positions[h * TOP], 0);
    for (let s = 1; s < TOP; s++) {
      assert.equal(positions[h * TOP + s], -1);
      assert.equal(weights[h * TOP + s], 0);
    }
  }
});

test('debug taps expose attention probabilities over exactly the visible keys', async () => {
  const built = buildGptOssGraph(weights, { ...baseOptions, capture: { routing: false, attention: false }, debugTaps: true });
  const results = await runOnce(built, tokens);
  for (const layer of [0, 1]) {
    const probs = floats(results, `blk.${layer}.attn_probs`);
    assert.deepEqual(results[`blk.${layer}.attn_probs`].dims, [Hq, SEQUENCE, SEQUENCE]);
    for (const t of [0, 127, 128, SEQUENCE - 1]) {
      const row = probs.subarray(t * SEQUENCE, (t + 1) * SEQUENCE);
      const visible = Array.from(row, (p) => p > 0).filter(Boolean).length;
      const expected = layer === 0 ? Math.min(t + 1, WINDOW) : t + 1;
      assert.equal(visible, expected, `layer ${layer} row ${t}`);
    }
  }
  assertClose(floats(results, 'logits'), floats(fused, 'logits'), 1e-6, 'logits with taps');
});

test('prefill, a chunk and single-token decodes through the KV cache equal one prefill', async () => {
  const built = buildGptOssGraph(weights, baseOptions);
  const session = await createSession(built);
  const steps = [150, 6, 1, 1, 1, 1];
  let cache: KvCache | null = null;
  let start = 0;
  try {
    for (const length of steps) {
      const results = await session.run(forwardFeeds(built.io, tokens.slice(start, start + length), cache));
      const rows = (perRow: number) => [start * perRow, (start + length) * perRow] as const;
      const whole = (name: string, perRow: number) => floats(fused, name).subarray(...rows(perRow));
      assertClose(floats(results, 'logits'), whole('logits', V), 2e-4, `logits at ${start}+${length}`);
      for (let l = 0; l < L; l++) {
        const b = `blk.${l}`;
        assert.deepEqual(results[`present.${l}.key`].dims, [1, TEST_CONFIG.numKvHeads, start + length, TEST_CONFIG.headDim]);
        assertClose(floats(results, `${b}.ffn_moe_logits`), whole(`${b}.ffn_moe_logits`, E), 1e-4, `${b} router logits at ${start}`);
        assert.deepEqual(ints(results, `${b}.ffn_moe_topk`), ints(fused, `${b}.ffn_moe_topk`).slice(...rows(K)), `${b} ids at ${start}`);
        assertClose(floats(results, `${b}.attn_sink_mass`), whole(`${b}.attn_sink_mass`, Hq), 1e-5, `${b} sink mass at ${start}`);
        const topWeights = floats(results, `${b}.attn_top_weights`);
        assertClose(topWeights, whole(`${b}.attn_top_weights`, Hq * TOP), 1e-5, `${b} top weights at ${start}`);
        assertSamePositions(ints(results, `${b}.attn_top_pos`), ints(fused, `${b}.attn_top_pos`).slice(...rows(Hq * TOP)), topWeights, TOP, `${b} positions at ${start}`);
      }
      cache = nextKvCache(built.io, results);
      start += length;
    }
  } finally {
    await session.release();
  }
  assert.equal(start, SEQUENCE);
});

test('kept attention positions shrink to the number of keys when fewer than attentionTopK', async () => {
  const built = buildGptOssGraph(weights, baseOptions);
  const results = await runOnce(built, tokens.slice(0, 3));
  assert.deepEqual(results['blk.0.attn_top_pos'].dims, [3, Hq, 3]);
  assert.deepEqual(results['blk.0.attn_top_weights'].dims, [3, Hq, 3]);
});

test('last-token logits equal the last row of all-token logits', async () => {
  const built = buildGptOssGraph(weights, { ...baseOptions, capture: { routing: false, attention: false }, logits: 'last' });
  const results = await runOnce(built, tokens);
  assert.deepEqual(results.logits.dims, [1, 1, V]);
  assertClose(floats(results, 'logits'), floats(fused, 'logits').subarray((SEQUENCE - 1) * V), 1e-5, 'last logits');
  assert.deepEqual(built.io.inputs.map((i) => i.name).slice(0, 2), ['input_ids', 'past.0.key']);
});

test('logits_logsumexp is the log of the summed exponentials of each logits row', async () => {
  const all = floats(fused, 'logits');
  const normalisers = floats(fused, 'logits_logsumexp');
  assert.equal(normalisers.length, SEQUENCE);
  for (let row = 0; row < SEQUENCE; row++) {
    const values = all.subarray(row * V, (row + 1) * V);
    const max = values.reduce((a, b) => Math.max(a, b), -Infinity);
    let sum = 0;
    for (const value of values) sum += Math.exp(value - max);
    assert.ok(Math.abs(normalisers[row] - (max + Math.log(sum))) < 1e-5, `row ${row}: ${normalisers[row]} vs ${max + Math.log(sum)}`);
  }
});

test('int8 QMoE experts (lossless from MXFP4) match fp32 experts', async () => {
  const built = buildGptOssGraph(weights, { ...baseOptions, experts: 'int8' });
  const results = await runOnce(built, tokens);
  assertClose(floats(results, 'logits'), floats(fused, 'logits'), 1e-4, 'int8 logits');
  assert.deepEqual(ints(results, 'blk.3.ffn_moe_topk'), ints(fused, 'blk.3.ffn_moe_topk'));
});

test('yarn mode changes the rotary tables and so the logits', async () => {
  const built = buildGptOssGraph(weights, { ...baseOptions, capture: { routing: false, attention: false }, yarn: 'llamacpp' });
  const results = await runOnce(built, tokens);
  let worst = 0;
  const a = floats(results, 'logits');
  const b = floats(fused, 'logits');
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst > 1e-4, `llamacpp and exact YaRN gave the same logits (max diff ${worst})`);
});

test('a tensor of the wrong size is a CheckpointError naming the tensor', () => {
  const broken = { ...weights, dense: (name: string) => (name.endsWith('layers.2.self_attn.sinks') ? new Float32Array(3) : weights.dense(name)) };
  assert.throws(
    () => buildGptOssGraph(broken, baseOptions),
    (error: unknown) => error instanceof CheckpointError && /model\.layers\.2\.self_attn\.sinks/.test(error.message) && /expected \[4\]/.test(error.message),
  );
});

test('feeding more tokens than maxPositions is refused before running', () => {
  const built = buildGptOssGraph(weights, { ...baseOptions, maxPositions: 16 });
  assert.throws(() => forwardFeeds(built.io, tokens.slice(0, 17)), /sequence of 17 exceeds maxPositions 16/);
});
