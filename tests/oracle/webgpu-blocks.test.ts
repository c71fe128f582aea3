/**
 * Each block of the WebGPU build of the graph, alone, on the WebGPU provider against the fp64
 * reference (tests/reference/forward64.ts): RMSNorm, YaRN rotary (the cached keys), attention with
 * sinks and the 128-key window (a prefill, then a second pass that reads the GPU-built cache at
 * positions past the window), router with top-k, and the experts from float and from int8 blocks.
 * Tolerances: the CPU oracle's (tests/oracle/graphs-vs-reference.test.ts).
 */
import { before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { cachedStandardAttention, type AttentionWeights } from '../../kernels/attention';
import { denseExpertWeights, denseExperts, type ExpertWeights } from '../../kernels/experts';
import { rmsNorm } from '../../kernels/layers';
import { ropeInitializers } from '../../kernels/model';
import { GraphBuilder, scope } from '../../kernels/onnx';
import { router } from '../../kernels/router';
import { sessionOptions } from '../../kernels/session';
import { denseTensor, expertsFloat, expertsInt8 } from '../../kernels/weights';
import { TINY_PRESETS } from '../../lib/model/config';
import { tensorNames } from '../../lib/model/weights';
import { difference, describe as describeDifference } from '../reference/compare';
import * as reference from '../reference/forward64';
import { decodeMxfp4Expert } from '../reference/mxfp4';
import { randomWeightSource, seededRandom } from '../reference/random-weights';
import { webGpuSkipReason } from '../webgpu';

const config = TINY_PRESETS.tiny;
const source = randomWeightSource(config, 21);
const layer = 0;
const names = tensorNames.layer(layer);
const H = config.hiddenSize;
const SEQUENCE = 170;
/** The first pass; the second covers positions 150..169, past the 128-key window. */
const FIRST_PASS = 150;
const name = scope('blk.0');

const skip = await webGpuSkipReason();

function randomRows(rows: number, width: number, seed: number, spread = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: rows * width }, () => spread * (2 * random() - 1));
}

const rowsOf = (flat: Float32Array, width: number): Float64Array[] =>
  Array.from({ length: flat.length / width }, (_, r) => Float64Array.from(flat.subarray(r * width, (r + 1) * width)));

/** Runs a graph on WebGPU, unfused ('basic': ORT must not turn the standard ops back into contrib kernels). */
async function runOnWebGpu(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const built = g.build();
  const session = await ort.InferenceSession.create(built.model, sessionOptions(built, { device: 'webgpu', optimization: 'basic', threads: 1 }));
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const floats = (outputs: ort.InferenceSession.ReturnType, output: string) => outputs[output].data as Float32Array;
const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

function assertClose(t: TestContext, what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, maxAbs: number): void {
  const d = difference(actual, expected);
  t.diagnostic(`${what}: ${describeDifference(d)}`);
  assert.ok(d.maxAbs <= maxAbs, `${what}: ${describeDifference(d)}`);
}

describe('WebGPU blocks against the fp64 reference', { skip }, () => {
  test('RMSNorm', async (t) => {
    const x = randomRows(8, H, 1, 3);
    const g = new GraphBuilder('norm');
    g.input('x', 'float32', [8, H]);
    const weight = g.initializer('w', denseTensor(source, names.inputNorm, [H]), [H]);
    g.output(rmsNorm(g, 'x', weight, config.rmsNormEps, 'y', 'fused'), 'float32', [8, H]);
    const y = floats(await runOnWebGpu(g, { x: tensor(x, [8, H]) }), 'y');
    const expected = rowsOf(x, H).flatMap((row) => Array.from(reference.rmsNorm(row, source.dense(names.inputNorm), config.rmsNormEps)));
    assertClose(t, 'rmsnorm', y, expected, 1e-5);
  });

  test('router logits, top-k ids and their softmax', async (t) => {
    const x = randomRows(16, H, 2);
    const g = new GraphBuilder('router');
    g.input('x', 'float32', [16, H]);
    const weights = {
      weight: g.initializer('w', denseTensor(source, names.routerWeight, [config.numExperts, H]), [config.numExperts, H]),
      bias: g.initializer('b', denseTensor(source, names.routerBias, [config.numExperts]), [config.numExperts]),
    };
    const r = router(g, 'x', weights, config.expertsPerToken, name);
    g.output(r.logits, 'float32', [16, config.numExperts]);
    g.output(r.topk, 'int64', [16, config.expertsPerToken]);
    g.output(r.weights, 'float32', [16, config.expertsPerToken]);
    const out = await runOnWebGpu(g, { x: tensor(x, [16, H]) });
    const expected = rowsOf(x, H).map((row) => reference.router(row, source.dense(names.routerWeight), source.dense(names.routerBias), config.numExperts, config.expertsPerToken));
    assertClose(t, 'router logits', floats(out, r.logits), expected.flatMap((e) => Array.from(e.logits)), 5e-5);
    assert.deepEqual(Array.from(out[r.topk].data as BigInt64Array, Number), expected.flatMap((e) => e.experts));
    assertClose(t, 'routing weights', floats(out, r.weights), expected.flatMap((e) => Array.from(e.weights)), 2e-5);
  });

  for (const kind of ['float', 'int8'] as const) {
    test(`experts from ${kind} weights (clamped SwiGLU, interleaved gate/up, routing-weighted sum)`, async (t) => {
      const S = 12;
      const x = randomRows(S, H, 3, 2);
      const g = new GraphBuilder(`experts-${kind}`);
      g.input('x', 'float32', [S, H]);
      const routing = router(
        g,
        'x',
        {
          weight: g.initializer('rw', denseTensor(source, names.routerWeight, [config.numExperts, H]), [config.numExperts, H]),
          bias: g.initializer('rb', denseTensor(source, names.routerBias, [config.numExperts]), [config.numExperts]),
        },
        config.expertsPerToken,
        name,
      );
      const E = config.numExperts;
      const I = config.intermediateSize;
      const gateUpBias = g.initializer('b1', denseTensor(source, names.gateUpBias, [E, 2 * I]), [E, 2 * I]);
      const downBias = g.initializer('b2', denseTensor(source, names.downBias, [E, H]), [E, H]);
      let weights: ExpertWeights;
      if (kind === 'float') {
        const [gateUp, down] = [expertsFloat(source, layer, 'gate_up'), expertsFloat(source, layer, 'down')];
        weights = { kind, gateUp: g.initializer('w1', gateUp.weights, gateUp.dims), gateUpBias, down: g.initializer('w2', down.weights, down.dims), downBias };
      } else {
        const [gateUp, down] = [expertsInt8(source, layer, 'gate_up'), expertsInt8(source, layer, 'down')];
        weights = {
          kind,
          gateUp: g.initializer('w1', gateUp.weights, gateUp.dims),
          gateUpScales: g.initializer('s1', gateUp.scales, gateUp.scaleDims),
          gateUpBias,
          down: g.initializer('w2', down.weights, down.dims),
          downScales: g.initializer('s2', down.scales, down.scaleDims),
          downBias,
        };
      }
      const shape = { numExperts: E, k: config.expertsPerToken, swigluLimit: config.swigluLimit };
      g.output(denseExperts(g, 'x', routing, denseExpertWeights(g, weights, name), shape, name), 'float32', [S, H]);
      const y = floats(await runOnWebGpu(g, { x: tensor(x, [S, H]) }), 'blk.0.ffn_moe_out');

      const gateUpRaw = source.mxfp4(layer, 'gate_up');
      const downRaw = source.mxfp4(layer, 'down');
      const expertWeights = (e: number): reference.ExpertWeights => ({
        gateUp: decodeMxfp4Expert(gateUpRaw, e),
        gateUpBias: source.dense(names.gateUpBias).subarray(e * 2 * I, (e + 1) * 2 * I),
        down: decodeMxfp4Expert(downRaw, e),
        downBias: source.dense(names.downBias).subarray(e * H, (e + 1) * H),
      });
      const expected = rowsOf(x, H).flatMap((row) => {
        const routed = reference.router(row, source.dense(names.routerWeight), source.dense(names.routerBias), E, config.expertsPerToken);
        return Array.from(reference.moe(row, routed, expertWeights, I, config.swigluLimit));
      });
      assertClose(t, `${kind} experts`, y, expected, 1e-4);
    });
  }

  for (const window of [config.slidingWindow, null]) {
    describe(`attention with sinks, ${window ? `the ${window}-key window` : 'full attention'}, KV cache on the GPU`, () => {
      const x = randomRows(SEQUENCE, H, 4);
      const passes: { out: Float32Array; probs: Float32Array; keys: Float32Array }[] = [];
      let expected: ReturnType<typeof reference.attention>;
      const { numHeads, numKvHeads, headDim } = config;

      before(async () => {
        const g = new GraphBuilder('attention');
        g.input('x', 'float32', ['sequence', H]);
        const cache = { pastKey: 'past_key', pastValue: 'past_value', presentKey: 'present_key', presentValue: 'present_value', seqlensK: '', totalSequenceLength: '' };
        g.input(cache.pastKey, 'float32', [1, numKvHeads, 'past', headDim]);
        g.input(cache.pastValue, 'float32', [1, numKvHeads, 'past', headDim]);
        const add = (suffix: string, tensorName: string, dims: number[]) => g.initializer(suffix, denseTensor(source, tensorName, dims), dims);
        const w: AttentionWeights = {
          q: add('q', names.qWeight, [numHeads * headDim, H]),
          qBias: add('qb', names.qBias, [numHeads * headDim]),
          k: add('k', names.kWeight, [numKvHeads * headDim, H]),
          kBias: add('kb', names.kBias, [numKvHeads * headDim]),
          v: add('v', names.vWeight, [numKvHeads * headDim, H]),
          vBias: add('vb', names.vBias, [numKvHeads * headDim]),
          o: add('o', names.oWeight, [H, numHeads * headDim]),
          oBias: add('ob', names.oBias, [H]),
          sinks: add('sinks', names.sinks, [numHeads]),
        };
        const rope = ropeInitializers(g, config, SEQUENCE, 'exact');
        const attn = cachedStandardAttention(g, 'x', w, { numHeads, numKvHeads, headDim, window }, rope, cache, name);
        g.output(attn.out, 'float32', ['sequence', H]);
        g.output(attn.probs!, 'float32', [numHeads, 'sequence', 'total']);
        g.output(cache.presentKey, 'float32', [1, numKvHeads, 'total', headDim]);
        g.output(cache.presentValue, 'float32', [1, numKvHeads, 'total', headDim]);
        // A host copy of the cached keys, for the rotary check (the cache itself stays on the GPU).
        g.output(g.op('Identity', [cache.presentKey], 'present_key_host'), 'float32', [1, numKvHeads, 'total', headDim]);
        const built = g.build();
        const session = await ort.InferenceSession.create(
          built.model,
          sessionOptions(built, { device: 'webgpu', optimization: 'basic', threads: 1, deviceOutputs: [cache.presentKey, cache.presentValue] }),
        );
        try {
          let past: ort.Tensor[] = [0, 1].map(() => tensor(new Float32Array(0), [1, numKvHeads, 0, headDim]));
          for (const [start, end] of [[0, FIRST_PASS], [FIRST_PASS, SEQUENCE]]) {
            const outputs = await session.run({ x: tensor(x.slice(start * H, end * H), [end - start, H]), past_key: past[0], past_value: past[1] });
            for (const stale of past) if (stale.location === 'gpu-buffer') stale.dispose();
            past = [outputs.present_key, outputs.present_value];
            assert.equal(past[0].location, 'gpu-buffer', 'the KV cache stays on the GPU');
            passes.push({ out: floats(outputs, attn.out), probs: floats(outputs, attn.probs!), keys: floats(outputs, 'present_key_host') });
          }
          for (const stale of past) stale.dispose();
        } finally {
          await session.release();
        }
        const dense = (tensorName: string) => source.dense(tensorName);
        const weights = {
          q: dense(names.qWeight), qBias: dense(names.qBias), k: dense(names.kWeight), kBias: dense(names.kBias),
          v: dense(names.vWeight), vBias: dense(names.vBias), o: dense(names.oWeight), oBias: dense(names.oBias), sinks: dense(names.sinks),
        };
        const ropeTables = reference.yarnFrequencies(headDim, config.ropeTheta, config.yarn);
        expected = reference.attention(rowsOf(x, H), weights, config, ropeTables, window);
      });

      test('YaRN rotary: the cached keys are the reference\'s rotated keys at every position', (t) => {
        const keys = passes[1].keys; // [1, KV, T, d]
        const ropeTables = reference.yarnFrequencies(headDim, config.ropeTheta, config.yarn);
        const expectedKeys = new Float64Array(keys.length);
        rowsOf(x, H).forEach((row, position) => {
          const flat = reference.matVec(source.dense(names.kWeight), numKvHeads * headDim, H, row, source.dense(names.kBias));
          for (let h = 0; h < numKvHeads; h++) {
            const rotated = reference.applyRope(flat.subarray(h * headDim, (h + 1) * headDim), position, ropeTables);
            expectedKeys.set(rotated, (h * SEQUENCE + position) * headDim);
          }
        });
        assertClose(t, 'rotated keys', keys, expectedKeys, 2e-5);
      });

      test('attention output and probabilities match in both passes, past the window', (t) => {
        for (const [pass, [start, end]] of [[0, 0, FIRST_PASS], [1, FIRST_PASS, SEQUENCE]].map(([p, s, e]) => [p, [s, e]] as const)) {
          const total = end;
          const out = passes[pass].out;
          assertClose(t, `pass ${pass} output`, out, expected.outputs.slice(start, end).flatMap((row) => Array.from(row)), 5e-5);
          const expectedProbs = new Float64Array(numHeads * (end - start) * total);
          for (let h = 0; h < numHeads; h++) {
            for (let s = start; s < end; s++) expectedProbs.set(expected.probabilities[s][h], (h * (end - start) + (s - start)) * total);
          }
          assertClose(t, `pass ${pass} probabilities [H, S, T]`, passes[pass].probs, expectedProbs, 2e-5);
        }
      });

      test('sink mass (1 - row sum) matches', (t) => {
        const probs = passes[1].probs;
        const rows = SEQUENCE - FIRST_PASS;
        const sinkMass: number[] = [];
        const expectedMass: number[] = [];
        for (let h = 0; h < numHeads; h++) {
          for (let s = 0; s < rows; s++) {
            const row = probs.subarray((h * rows + s) * SEQUENCE, (h * rows + s + 1) * SEQUENCE);
            sinkMass.push(1 - row.reduce((a, b) => a + b, 0));
            expectedMass.push(expected.sinkMass[FIRST_PASS + s][h]);
          }
        }
        assertClose(t, 'sink mass', sinkMass, expectedMass, 5e-6);
      });
    });
  }
});
