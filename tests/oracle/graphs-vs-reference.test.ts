/**
 * The fused production graph and the standard-ops reference graph (both from kernels/), run in
 * real onnxruntime sessions on a generated tiny checkpoint, agree with the independent fp64
 * reference (tests/reference/forward64.ts) on logits, routing and attention, over a sequence
 * long enough (past 128) that the sliding window matters.
 *
 * Tolerances were set from measurement (float32 graphs vs fp64), with headroom; see the
 * diagnostics each test prints.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GraphIo } from '../../kernels/io';
import { buildGptOssGraph, type FusedOps } from '../../kernels/model';
import type { Precision } from '../../kernels/layers';
import { sessionOptions } from '../../kernels/session';
import type { Device } from '../../kernels/device';
import { webGpuSkipReason } from '../webgpu';
import { openCheckpoint, type Checkpoint } from '../../lib/model/checkpoint';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { difference, describe as describeDifference, worse, NO_DIFFERENCE, type Difference } from '../reference/compare';
import { referenceForward, type ReferenceResult, type YarnMode } from '../reference/forward64';
import { seededRandom } from '../reference/random-weights';

const SEQUENCE_LENGTH = 170;
/** lm_head is the costly part of the fp64 reference, so logits are compared at chosen positions. */
const LOGIT_POSITIONS = [0, 1, 64, 126, 127, 128, 129, 150, 169];

/**
 * Measured worst cases over the three graphs (tiny checkpoint, seed 11, 170 tokens, CPU provider):
 * logits 1.4e-6 relative (1.8e-5 abs), router logits 7.4e-6 abs, routing weights 2.0e-6,
 * sink mass 8.5e-7, attention probabilities 2.8e-6. Tolerances leave 5-10x headroom.
 */
const TOLERANCE = {
  logitsRelative: 1e-5,
  routerLogitsAbs: 5e-5,
  routingWeightsAbs: 2e-5,
  sinkMassAbs: 5e-6,
  attentionProbsAbs: 2e-5,
  /** Top-k slots whose router logit is within this of a neighbour are a near tie: order unspecified. */
  tieMargin: 1e-4,
  /** Near ties must stay rare on random weights: at most this share of the slots. */
  maxTieShare: 0.01,
};
type Tolerance = typeof TOLERANCE;

/**
 * fp16 experts and lm_head on WebGPU, measured (README, "Precision"): logits 4.1e-3 relative, router
 * logits 5.4e-2 abs (last layer), routing weights 3.9e-3, sink mass 2.5e-3, attention probabilities
 * 1.6e-2; 10% of expert slots within 0.06 of a neighbour. About 3x headroom.
 */
const FP16_TOLERANCE: Tolerance = {
  logitsRelative: 2e-2,
  routerLogitsAbs: 0.2,
  routingWeightsAbs: 2e-2,
  sinkMassAbs: 1e-2,
  attentionProbsAbs: 5e-2,
  tieMargin: 0.06,
  maxTieShare: 0.15,
};

/**
 * The production graph in both expert encodings, the standard-ops reference graph, and the WebGPU
 * build of the production graph (standard-op attention with a KV cache and dense experts) on the
 * WebGPU provider, held to the same tolerances.
 */
const GRAPHS: readonly GraphChoice[] = [
  { label: 'fused graph, float experts', variant: 'fused', experts: 'float', ops: 'contrib', device: 'cpu' },
  { label: 'fused graph, int8 (QMoE) experts', variant: 'fused', experts: 'int8', ops: 'contrib', device: 'cpu' },
  { label: 'standard-ops reference graph', variant: 'reference', experts: 'float', ops: 'contrib', device: 'cpu' },
  { label: 'WebGPU: fused graph of standard ops, float experts', variant: 'fused', experts: 'float', ops: 'standard', device: 'webgpu' },
  { label: 'WebGPU: fused graph of standard ops, int8 experts', variant: 'fused', experts: 'int8', ops: 'standard', device: 'webgpu' },
  {
    label: 'WebGPU: fused graph of standard ops, int8 experts, fp16 experts and lm_head',
    variant: 'fused', experts: 'int8', ops: 'standard', device: 'webgpu', precision: 'fp16', tolerance: FP16_TOLERANCE,
  },
];
interface GraphChoice {
  label: string;
  variant: 'fused' | 'reference';
  experts: 'float' | 'int8';
  ops: FusedOps;
  device: Device;
  precision?: Precision;
  /** Defaults to TOLERANCE. */
  tolerance?: Tolerance;
}
type Outputs = ort.InferenceSession.ReturnType;

let checkpointDir = '';
let weights: Checkpoint;
let tokens: number[] = [];
let expected: ReferenceResult;

before(async () => {
  checkpointDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-oracle-'));
  await writeGeneratedCheckpoint(checkpointDir, 'tiny', { seed: 11 });
  weights = openCheckpoint(checkpointDir);
  const random = seededRandom(2024);
  tokens = Array.from({ length: SEQUENCE_LENGTH }, () => Math.floor(random() * weights.config.vocabSize));
  expected = referenceForward(weights, tokens, { logitsAt: LOGIT_POSITIONS });
});

after(() => {
  weights?.close();
  if (checkpointDir) fs.rmSync(checkpointDir, { recursive: true, force: true });
});

/** Feeds for whatever the graph declares: a prefill from an empty cache at position 0. */
function prefillFeeds(session: ort.InferenceSession): Record<string, ort.Tensor> {
  const { numKvHeads, headDim } = weights.config;
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]);
    else if (/^past\.\d+\.(key|value)$/.test(name)) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, numKvHeads, 0, headDim]);
    else if (name === 'seqlens_k') feeds[name] = new ort.Tensor('int32', Int32Array.of(tokens.length - 1), [1]);
    else if (name === 'total_sequence_length') feeds[name] = new ort.Tensor('int32', Int32Array.of(tokens.length), []);
    else throw new Error(`graph asks for an input this test does not know: ${name}`);
  }
  return feeds;
}

async function runGraph(choice: GraphChoice, yarn: YarnMode = 'exact', logits: 'all' | 'last' = 'all'): Promise<{ outputs: Outputs; io: GraphIo }> {
  const built = buildGptOssGraph(weights, {
    variant: choice.variant,
    ops: choice.ops,
    precision: choice.precision,
    experts: choice.experts,
    capture: { routing: true, attention: true },
    logits,
    yarn,
    maxPositions: SEQUENCE_LENGTH,
    debugTaps: true,
  });
  const session = await ort.InferenceSession.create(built.model, sessionOptions(built, { threads: 1, device: choice.device }));
  try {
    return { outputs: await session.run(prefillFeeds(session)), io: built.io };
  } finally {
    await session.release();
  }
}

function floats(outputs: Outputs, name: string): Float32Array {
  const tensor = outputs[name];
  assert.ok(tensor, `graph has no output ${name}`);
  return tensor.data as Float32Array;
}

function ids(outputs: Outputs, name: string): number[] {
  const tensor = outputs[name];
  assert.ok(tensor, `graph has no output ${name}`);
  return Array.from(tensor.data as BigInt64Array, Number);
}

function report(t: TestContext, what: string, d: Difference): void {
  t.diagnostic(`${what}: ${describeDifference(d)}`);
}

/**
 * Top-k slots whose reference order is certain: each one's logit is more than `margin` away
 * from its neighbours in the sorted list (including the first unselected expert).
 */
function confidentSlots(routerLogits: Float64Array, k: number, margin: number): boolean[] {
  const sorted = Array.from(routerLogits).sort((a, b) => b - a);
  return Array.from({ length: k }, (_, slot) => {
    const clearOfPrevious = slot === 0 || sorted[slot - 1] - sorted[slot] > margin;
    const clearOfNext = slot + 1 >= sorted.length || sorted[slot] - sorted[slot + 1] > margin;
    return clearOfPrevious && clearOfNext;
  });
}

for (const choice of GRAPHS) {
  describe(`${choice.label} against the fp64 reference`, { skip: choice.device === 'webgpu' ? await webGpuSkipReason() : false }, () => {
    const tolerance = choice.tolerance ?? TOLERANCE;
    let outputs: Outputs;
    let routing: NonNullable<GraphIo['routing']>;
    let attention: NonNullable<GraphIo['attention']>;
    let debugTaps: NonNullable<GraphIo['debugTaps']>;
    before(async () => {
      const run = await runGraph(choice);
      outputs = run.outputs;
      assert.ok(run.io.routing && run.io.attention && run.io.debugTaps, 'graph was asked for routing, attention and debug taps');
      routing = run.io.routing;
      attention = run.io.attention;
      debugTaps = run.io.debugTaps;
    });

    test('logits match at positions before and past the sliding window', (t) => {
      const V = weights.config.vocabSize;
      const logits = floats(outputs, 'logits');
      assert.equal(logits.length, SEQUENCE_LENGTH * V);
      let worst = NO_DIFFERENCE;
      for (const position of LOGIT_POSITIONS) {
        const d = difference(logits.subarray(position * V, (position + 1) * V), expected.logits[position]!);
        report(t, `logits at ${position}`, d);
        worst = worse(worst, d);
        assert.ok(d.relative <= tolerance.logitsRelative, `position ${position}: ${describeDifference(d)}`);
      }
      report(t, 'logits overall', worst);
    });

    test('raw router logits match in every layer', (t) => {
      const { numLayers, numExperts: E } = weights.config;
      for (let l = 0; l < numLayers; l++) {
        const routerLogits = floats(outputs, routing[l].logits);
        const d = difference(routerLogits, expected.layers[l].routerLogits.flatMap((row) => Array.from(row)));
        report(t, `layer ${l} router logits [S, ${E}]`, d);
        assert.ok(d.maxAbs <= tolerance.routerLogitsAbs, `layer ${l}: ${describeDifference(d)}`);
      }
    });

    test('expert choice is identical except where router logits nearly tie', (t) => {
      const { numLayers, expertsPerToken: k } = weights.config;
      let compared = 0;
      let skipped = 0;
      for (let l = 0; l < numLayers; l++) {
        const chosen = ids(outputs, routing[l].topk);
        for (let position = 0; position < SEQUENCE_LENGTH; position++) {
          const confident = confidentSlots(expected.layers[l].routerLogits[position], k, tolerance.tieMargin);
          for (let slot = 0; slot < k; slot++) {
            if (!confident[slot]) {
              skipped++;
              continue;
            }
            compared++;
            assert.equal(chosen[position * k + slot], expected.layers[l].topExperts[position][slot], `layer ${l}, position ${position}, slot ${slot}`);
          }
        }
      }
      t.diagnostic(`expert slots compared ${compared}, skipped as near ties ${skipped}`);
      assert.ok(skipped <= tolerance.maxTieShare * (compared + skipped), 'near ties should be rare on random weights');
    });

    test('routing weights match for the chosen experts', (t) => {
      const { numLayers, expertsPerToken: k } = weights.config;
      let worst = NO_DIFFERENCE;
      for (let l = 0; l < numLayers; l++) {
        const chosen = ids(outputs, routing[l].topk);
        const routingWeights = floats(outputs, routing[l].weights);
        for (let position = 0; position < SEQUENCE_LENGTH; position++) {
          const reference = expected.layers[l].topExperts[position];
          const graphChoice = chosen.slice(position * k, (position + 1) * k);
          if ([...graphChoice].sort().join() !== [...reference].sort().join()) continue; // a near tie, counted above
          // Compare by expert id, so a swapped order within a near tie still checks the weights.
          const expectedByExpert = graphChoice.map((e) => expected.layers[l].expertWeights[position][reference.indexOf(e)]);
          worst = worse(worst, difference(routingWeights.subarray(position * k, (position + 1) * k), expectedByExpert));
        }
      }
      report(t, 'routing weights', worst);
      assert.ok(worst.maxAbs <= tolerance.routingWeightsAbs, describeDifference(worst));
    });

    test('sink mass matches for every head and position', (t) => {
      const { numLayers } = weights.config;
      for (let l = 0; l < numLayers; l++) {
        const sinkMass = floats(outputs, attention[l].sinkMass);
        const d = difference(sinkMass, expected.layers[l].sinkMass.flatMap((row) => Array.from(row)));
        report(t, `layer ${l} sink mass`, d);
        assert.ok(d.maxAbs <= tolerance.sinkMassAbs, `layer ${l}: ${describeDifference(d)}`);
      }
    });

    test('attention probabilities match, including keys hidden by the sliding window', (t) => {
      const { numLayers, numHeads: H } = weights.config;
      const S = SEQUENCE_LENGTH;
      for (let l = 0; l < numLayers; l++) {
        const probs = floats(outputs, debugTaps[l].attn_probs); // [H, S, T] with T = S here
        assert.equal(probs.length, H * S * S, `layer ${l} attn_probs size`);
        let worst = NO_DIFFERENCE;
        for (let h = 0; h < H; h++) {
          for (let position = 0; position < S; position++) {
            const row = probs.subarray((h * S + position) * S, (h * S + position + 1) * S);
            const expectedRow = new Float64Array(S);
            expectedRow.set(expected.layers[l].attentionProbs[position][h]);
            worst = worse(worst, difference(row, expectedRow));
          }
        }
        report(t, `layer ${l} (${weights.config.layerTypes[l]}) attention probabilities`, worst);
        assert.ok(worst.maxAbs <= tolerance.attentionProbsAbs, `layer ${l}: ${describeDifference(worst)}`);
      }
    });

    test('top attended positions and weights are the reference top probabilities', (t) => {
      const { numLayers, numHeads: H } = weights.config;
      let worst = NO_DIFFERENCE;
      for (let l = 0; l < numLayers; l++) {
        const topPositions = ids(outputs, attention[l].topPositions);
        const topWeights = floats(outputs, attention[l].topWeights);
        const kk = topPositions.length / (SEQUENCE_LENGTH * H);
        for (let position = 0; position < SEQUENCE_LENGTH; position++) {
          for (let h = 0; h < H; h++) {
            const reference = expected.layers[l].attentionProbs[position][h];
            const sortedReference = Array.from(reference).sort((a, b) => b - a);
            const base = (position * H + h) * kk;
            for (let slot = 0; slot < kk; slot++) {
              const key = topPositions[base + slot];
              const weight = topWeights[base + slot];
              if (slot > position) {
                assert.ok(key === -1 && weight === 0, `layer ${l}, position ${position}, head ${h}: slot ${slot} should be padding`);
                continue;
              }
              // Robust to near ties: the weight is the slot's reference value and belongs to the named key.
              worst = worse(worst, difference([weight, weight], [sortedReference[slot], reference[key]]));
            }
          }
        }
      }
      report(t, 'top attention weights', worst);
      assert.ok(worst.maxAbs <= tolerance.attentionProbsAbs, describeDifference(worst));
    });
  });
}

test('with llama.cpp YaRN band edges, the fused graph matches the reference run the same way', async (t) => {
  const last = SEQUENCE_LENGTH - 1;
  const llamacpp = referenceForward(weights, tokens, { logitsAt: [last], yarn: 'llamacpp' });
  const { outputs } = await runGraph(GRAPHS[0], 'llamacpp', 'last');
  const lastLogits = floats(outputs, 'logits');
  const d = difference(lastLogits, llamacpp.logits[last]!);
  report(t, `llama.cpp YaRN logits at ${last}`, d);
  assert.ok(d.relative <= TOLERANCE.logitsRelative, describeDifference(d));
  const exactGap = difference(lastLogits, expected.logits[last]!);
  report(t, 'same graph against the exact-YaRN reference', exactGap);
  assert.ok(exactGap.relative > 100 * TOLERANCE.logitsRelative, 'the two YaRN variants must be distinguishable here');
});
