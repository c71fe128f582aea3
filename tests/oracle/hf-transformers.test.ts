/**
 * cotscope against Hugging Face transformers' gpt-oss (an implementation of the checkpoint layout
 * written by others) on the generated tiny checkpoint: transformers' float64 forward pass over 200
 * random tokens, recorded by scripts/hf-reference.py into tests/fixtures/hf-tiny (torch is not
 * installed here). transformers computes RMSNorm and the rotary tables in float32 whatever the
 * model's dtype, so its "float64" pass carries float32 rounding (measured against our fp64
 * reference: logits 1.1e-5, router logits 1.8e-5, sink mass 3.1e-7). A misread layout (MXFP4
 * nibbles or scales, gate/up interleaving, sinks, YaRN, the sliding window) is off by far more:
 * llama.cpp's YaRN band edges alone move router logits by 0.45 here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openCheckpoint, type Checkpoint } from '../../lib/model/checkpoint';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { tapNames } from '../../lib/runtime/capture';
import { loadRuntime } from '../../lib/runtime/runtime';
import { argmax } from '../../lib/runtime/sampler';
import type { ExpertPath } from '../../lib/runtime/types';
import { difference, describe as describeDifference, worse, NO_DIFFERENCE } from '../reference/compare';
import { logSoftmax64, logSumExp64, referenceForward, type ReferenceResult } from '../reference/forward64';
import { requireNative, stepNative } from '../reference/native-steps';

const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'hf-tiny');
/** What scripts/hf-reference.py was run on: `npm run model:tiny` (seed 0, two shards). */
const CHECKPOINT = { preset: 'tiny', seed: 0, shards: 2 } as const;
/** Positions where the fp64 reference computes logits (lm_head in JS is the slow part): both sides of the 128-token window. */
const REFERENCE_LOGIT_POSITIONS = [0, 1, 63, 126, 127, 128, 129, 160, 199];
/** transformers' float32 norms and rotary tables (measured above), with room for summation order. */
const TOLERANCE = { logitsAbs: 1e-4, routerLogitsAbs: 1e-4, sinkMassAbs: 1e-5 };
/** The runtime's float32 paths against our fp64 reference (native-vs-reference.test.ts). */
const LOGPROB_TOLERANCE_AGAINST_FP64 = 2e-5;
const PREFILL = 100;

interface Fixture {
  tokens: number[];
  columns: number[];
  checkpoint: Record<string, string>;
  versions: Record<string, string>;
  logitsColumns: Float64Array;
  logSumExp: Float64Array;
  argmax: Int32Array;
  routerLogits: Float64Array;
  sinkMass: Float64Array;
}

function readFixture(): Fixture {
  const meta = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'meta.json'), 'utf8'));
  const array = <T>(name: string, View: { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number }): T => {
    const bytes = fs.readFileSync(path.join(FIXTURE, name));
    const expected = (meta.shapes[name] as number[]).reduce((a, b) => a * b, 1) * View.BYTES_PER_ELEMENT;
    assert.equal(bytes.byteLength, expected, `${name}: ${bytes.byteLength} bytes, meta.json says ${expected}`);
    return new View(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  return {
    tokens: meta.tokens,
    columns: meta.columns,
    checkpoint: meta.checkpoint,
    versions: meta.versions,
    logitsColumns: array('logits_columns.f64', Float64Array),
    logSumExp: array('logsumexp.f64', Float64Array),
    argmax: array('argmax.i32', Int32Array),
    routerLogits: array('router_logits.f64', Float64Array),
    sinkMass: array('sink_mass.f64', Float64Array),
  };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

let dir = '';
let checkpoint: Checkpoint;
let hf: Fixture;
let ours: ReferenceResult;

before(async () => {
  hf = readFixture();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-hf-oracle-'));
  await writeGeneratedCheckpoint(dir, CHECKPOINT.preset, { seed: CHECKPOINT.seed, shards: CHECKPOINT.shards });
  for (const [file, digest] of Object.entries(hf.checkpoint)) {
    if (!file.endsWith('.safetensors') && file !== 'model.safetensors.index.json' && file !== 'config.json') continue;
    assert.equal(sha256(path.join(dir, file)), digest, `${file} is not the file transformers ran on: the generator changed; re-record the fixture (scripts/hf-reference.py)`);
  }
  checkpoint = openCheckpoint(dir);
  ours = referenceForward(checkpoint, hf.tokens, { logitsAt: REFERENCE_LOGIT_POSITIONS });
});

after(() => {
  checkpoint?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** transformers' log-probabilities at the fixture's columns for `position`. */
function hfLogProbs(position: number): Float64Array {
  const C = hf.columns.length;
  return Float64Array.from(hf.logitsColumns.subarray(position * C, (position + 1) * C), (z) => z - hf.logSumExp[position]);
}

/** [L, T, width] fixture rows: row (layer, position). */
function hfRow(data: Float64Array, width: number, layer: number, position: number): Float64Array {
  const at = (layer * hf.tokens.length + position) * width;
  return data.subarray(at, at + width);
}

describe('our fp64 reference computes what transformers computes in float64', () => {
  test('logits, log-sum-exp and argmax at positions on both sides of the sliding window', (t) => {
    let worstLogits = NO_DIFFERENCE;
    let worstLse = 0;
    for (const position of REFERENCE_LOGIT_POSITIONS) {
      const logits = ours.logits[position]!;
      const C = hf.columns.length;
      worstLogits = worse(worstLogits, difference(hf.columns.map((c) => logits[c]), hf.logitsColumns.subarray(position * C, (position + 1) * C)));
      worstLse = Math.max(worstLse, Math.abs(logSumExp64(logits) - hf.logSumExp[position]));
      assert.equal(argmax(logits), hf.argmax[position], `argmax at ${position}`);
    }
    t.diagnostic(`transformers ${hf.versions.transformers}: logits ${describeDifference(worstLogits)}; log-sum-exp max abs ${worstLse.toExponential(2)}`);
    assert.ok(worstLogits.maxAbs <= TOLERANCE.logitsAbs, describeDifference(worstLogits));
    assert.ok(worstLse <= TOLERANCE.logitsAbs, `log-sum-exp differs by ${worstLse}`);
  });

  test('router logits and sink mass in every layer at every position', (t) => {
    const { numLayers: L, numExperts: E, numHeads: H } = checkpoint.config;
    let router = NO_DIFFERENCE;
    let sink = NO_DIFFERENCE;
    for (let l = 0; l < L; l++) {
      for (let p = 0; p < hf.tokens.length; p++) {
        router = worse(router, difference(ours.layers[l].routerLogits[p], hfRow(hf.routerLogits, E, l, p)));
        sink = worse(sink, difference(ours.layers[l].sinkMass[p], hfRow(hf.sinkMass, H, l, p)));
      }
    }
    t.diagnostic(`router logits ${describeDifference(router)}; sink mass ${describeDifference(sink)}`);
    assert.ok(router.maxAbs <= TOLERANCE.routerLogitsAbs, describeDifference(router));
    assert.ok(sink.maxAbs <= TOLERANCE.sinkMassAbs, describeDifference(sink));
  });

  test('the comparison tells YaRN band edges apart: llama.cpp\'s rounded edges miss by over 100 times the tolerance', () => {
    const rounded = referenceForward(checkpoint, hf.tokens, { yarn: 'llamacpp', logitsAt: [] });
    const { numLayers: L, numExperts: E } = checkpoint.config;
    let router = NO_DIFFERENCE;
    for (let p = 0; p < hf.tokens.length; p++) router = worse(router, difference(rounded.layers[L - 1].routerLogits[p], hfRow(hf.routerLogits, E, L - 1, p)));
    assert.ok(router.maxAbs > 100 * TOLERANCE.routerLogitsAbs, describeDifference(router));
  });
});

describe('the runtime against transformers', () => {
  test('native path, prefill then decode past the window: log-probs, router logits, sink mass and argmax', async (t) => {
    const steps = await stepNative(checkpoint, hf.tokens, { prefill: PREFILL, capture: { routing: true, attention: true, attentionTopK: 8 }, yarn: 'exact', expertInputs: 'f32' });
    const { numLayers: L, numExperts: E, numHeads: H } = checkpoint.config;
    let logProbs = NO_DIFFERENCE;
    let router = NO_DIFFERENCE;
    let sink = NO_DIFFERENCE;
    let argmaxAgrees = 0;
    for (const { first, rows, read, logits, logSumExp } of steps) {
      const last = first + rows - 1;
      logProbs = worse(logProbs, difference(hf.columns.map((c) => logits[c] - logSumExp), hfLogProbs(last)));
      if (argmax(logits) === hf.argmax[last]) argmaxAgrees++;
      for (let l = 0; l < L; l++) {
        const z = read(tapNames.routerLogits(l)).data as Float32Array;
        const s = read(tapNames.sinkMass(l)).data as Float32Array;
        for (let r = 0; r < rows; r++) {
          router = worse(router, difference(z.subarray(r * E, (r + 1) * E), hfRow(hf.routerLogits, E, l, first + r)));
          sink = worse(sink, difference(s.subarray(r * H, (r + 1) * H), hfRow(hf.sinkMass, H, l, first + r)));
        }
      }
    }
    t.diagnostic(`log-probs ${describeDifference(logProbs)}; router logits ${describeDifference(router)}; sink mass ${describeDifference(sink)}; argmax agrees at ${argmaxAgrees} of ${steps.length} passes`);
    assert.ok(logProbs.maxAbs <= TOLERANCE.logitsAbs, describeDifference(logProbs));
    assert.ok(router.maxAbs <= TOLERANCE.routerLogitsAbs, describeDifference(router));
    assert.ok(sink.maxAbs <= TOLERANCE.sinkMassAbs, describeDifference(sink));
    assert.equal(argmaxAgrees, steps.length);
  });

  // transformers' log-probability of its argmax is not in the fixture (only its columns); our fp64
  // reference's, which the tests above hold to transformers', stands in for it.
  test("every expert path's generation picks transformers' next token after the whole prompt, at the fp64 log-probability", async () => {
    requireNative();
    const last = hf.tokens.length - 1;
    const referenceLogProbs = logSoftmax64(ours.logits[last]!);
    const paths: ExpertPath[] = ['mxfp4', 'int8', 'float'];
    for (const experts of paths) {
      const runtime = await loadRuntime(dir, { experts, threads: 1, maxSequence: 512 });
      try {
        const run = await runtime.generate({ promptIds: hf.tokens, sampling: { temperature: 0, topP: 1, seed: 0, maxNewTokens: 1 }, capture: { routing: false, attention: false } });
        const next = run.tokens[hf.tokens.length];
        assert.equal(next, hf.argmax[last], `${experts}: next token`);
        const expected = referenceLogProbs[next];
        assert.ok(Math.abs(run.logprobs[0] - expected) <= LOGPROB_TOLERANCE_AGAINST_FP64, `${experts}: log-prob ${run.logprobs[0]} against ${expected}`);
      } finally {
        await runtime.close();
      }
    }
  });
});
