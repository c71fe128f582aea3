/**
 * cotscope computes gpt-oss the way llama.cpp (an independent implementation) does: the tiny
 * generated checkpoint is exported to GGUF and both engines run the same tokens.
 *
 * - F32 experts + llama.cpp-style YaRN: full-vocabulary log-probabilities agree within 1e-4 (max
 *   abs) at positions spread over a sequence longer than 200 tokens (past the 128-token sliding
 *   window), and 64 greedy tokens from cotscope's runtime are identical.
 * - MXFP4 experts: llama.cpp quantizes activations to Q8_0 for its MXFP4 matmuls, so the gap is
 *   only recorded (diagnostic) and held to a loose bound that a wrong repack would break.
 *
 * Positions are sampled because node-llama-cpp builds the full 201k-entry probability map per
 * position (~0.7 s each here).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildGptOssGraph } from '../../kernels/model';
import { createSession, forwardFeeds } from '../../kernels/session';
import { encode } from '../../lib/harmony/tokenizer';
import { openCheckpoint } from '../../lib/model/checkpoint';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { exportGguf, type ExpertEncoding } from '../../lib/model/gguf';
import { harmonyVocabulary } from '../../lib/model/gguf-tokenizer';
import { loadRuntime } from '../../lib/runtime/runtime';
import { LlamaCppPeer } from './llamacpp-driver';
import type { ExpertInputs } from '../../kernels/native';
import { logSoftmax64 } from '../reference/forward64';
import { stepNative } from '../reference/native-steps';

const F32_TOLERANCE = 1e-4;
/** Measured 0.33 (max over the sampled positions) with llama.cpp's Q8_0 activations. */
const MXFP4_GAP_BOUND = 1.0;
const GREEDY_TOKENS = 64;
/** cotscope's q8 expert inputs against llama.cpp's MXFP4 path (which rounds the same inputs to Q8_0, with an f16 step): measured 2.2e-2, against 0.33 for float inputs. */
const Q8_GAP_BOUND = 0.1;

const SEQUENCE_TEXT =
  '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nReasoning: medium<|end|>' +
  '<|start|>user<|message|>' +
  'The quick brown fox jumps over the lazy dog. '.repeat(3) +
  'In 1492 Columbus sailed the ocean blue; numbers 12345 and 67890 follow, then Ünïcödé and 日本語 text. '.repeat(6) +
  '<|end|><|start|>assistant';

let workDir = '';
let checkpointDir = '';
let sequence: number[] = [];
let cotscopeLogits: Float32Array = new Float32Array(0);
let vocabSize = 0;

function comparedPositions(length: number): number[] {
  const spread = [0, 1, 2, 40, 90, 126, 127, 128, 129, 160, 190, 200, 215];
  return [...new Set([...spread.filter((p) => p < length), length - 3, length - 2, length - 1])];
}

function exportTo(experts: ExpertEncoding): string {
  const file = path.join(workDir, `tiny-${experts}.gguf`);
  const checkpoint = openCheckpoint(checkpointDir);
  try {
    exportGguf(checkpoint, harmonyVocabulary(), file, { experts });
  } finally {
    checkpoint.close();
  }
  return file;
}

/** Max abs log-prob difference (whole vocabulary) between llama.cpp on `gguf` and cotscope's logits at each position. */
async function maxLogprobGap(gguf: string, t: TestContext, ourLogits: (position: number) => Float32Array = (p) => cotscopeLogits.subarray(p * vocabSize, (p + 1) * vocabSize)): Promise<{ gap: number; at: number }> {
  const peer = await LlamaCppPeer.open(gguf, { threads: 1, contextSize: 512, exact: true });
  try {
    const positions = comparedPositions(sequence.length);
    const theirs = await peer.logProbabilities(sequence, positions, vocabSize);
    let gap = 0;
    let at = -1;
    for (const p of positions) {
      const ours = logSoftmax64(ourLogits(p));
      const row = theirs.get(p)!;
      let rowGap = 0;
      for (let v = 0; v < vocabSize; v++) rowGap = Math.max(rowGap, Math.abs(ours[v] - row[v]));
      t.diagnostic(`position ${p}: max |Δ log p| = ${rowGap.toExponential(2)}`);
      if (rowGap > gap) [gap, at] = [rowGap, p];
    }
    return { gap, at };
  } finally {
    await peer.dispose();
  }
}

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-llamacpp-'));
  checkpointDir = path.join(workDir, 'tiny');
  await writeGeneratedCheckpoint(checkpointDir, 'tiny', { seed: 0 });
  sequence = encode(SEQUENCE_TEXT, { allowSpecial: true });
  const checkpoint = openCheckpoint(checkpointDir);
  try {
    vocabSize = checkpoint.config.vocabSize;
    const graph = buildGptOssGraph(checkpoint, {
      variant: 'fused',
      logits: 'all',
      yarn: 'llamacpp',
      capture: { routing: false, attention: false },
      experts: 'float',
      maxPositions: sequence.length,
    });
    const session = await createSession(graph);
    const outputs = await session.run(forwardFeeds(graph.io, sequence));
    cotscopeLogits = (outputs.logits as ort.Tensor).data as Float32Array;
    await session.release();
  } finally {
    checkpoint.close();
  }
});

after(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test('with F32 experts, log-probabilities over a 200+ token sequence match llama.cpp within 1e-4', async (t) => {
  assert.ok(sequence.length > 200, `sequence has ${sequence.length} tokens`);
  const { gap, at } = await maxLogprobGap(exportTo('f32'), t);
  t.diagnostic(`F32 experts: max |Δ log p| = ${gap.toExponential(3)} at position ${at} of ${sequence.length}`);
  assert.ok(gap < F32_TOLERANCE, `max |Δ log p| ${gap} at position ${at} exceeds ${F32_TOLERANCE}`);
});

test('64 greedy tokens from the runtime (llama.cpp YaRN) are the ones llama.cpp picks', async (t) => {
  const prompt = sequence.slice(0, 100);
  const runtime = await loadRuntime(checkpointDir, { yarn: 'llamacpp', maxSequence: 256 });
  let ours: number[];
  try {
    const result = await runtime.generate({ promptIds: prompt, sampling: { temperature: 0, maxNewTokens: GREEDY_TOKENS }, stopTokens: [] });
    ours = result.tokens.slice(prompt.length);
  } finally {
    await runtime.close();
  }
  const peer = await LlamaCppPeer.open(path.join(workDir, 'tiny-f32.gguf'), { threads: 1, contextSize: 256, exact: true });
  let theirs: number[];
  try {
    theirs = await peer.greedy(prompt, GREEDY_TOKENS);
  } finally {
    await peer.dispose();
  }
  t.diagnostic(`greedy tokens: ${ours.slice(0, 12).join(' ')} ...`);
  assert.equal(ours.length, GREEDY_TOKENS);
  assert.deepEqual(ours, theirs);
});

test('with MXFP4 experts llama.cpp stays close (its activations are Q8_0); the gap is recorded', async (t) => {
  const { gap, at } = await maxLogprobGap(exportTo('mxfp4'), t);
  t.diagnostic(`MXFP4 experts: max |Δ log p| = ${gap.toExponential(3)} at position ${at} (llama.cpp quantizes activations to Q8_0)`);
  assert.ok(gap < MXFP4_GAP_BOUND, `MXFP4 gap ${gap} at position ${at} exceeds ${MXFP4_GAP_BOUND}`);
});

/** Next-token logits at every position from the native path, one token per forward pass (decode steps). */
async function nativeLogits(expertInputs: ExpertInputs): Promise<Float32Array[]> {
  const checkpoint = openCheckpoint(checkpointDir);
  try {
    const steps = await stepNative(checkpoint, sequence, { prefill: 0, capture: { routing: false, attention: false }, yarn: 'llamacpp', expertInputs });
    return steps.map((step) => step.logits);
  } finally {
    checkpoint.close();
  }
}

test('with q8 expert inputs the native path computes what llama.cpp computes on MXFP4 experts: the gap falls far below the float-input gap', async (t) => {
  const ours = await nativeLogits('q8');
  const { gap, at } = await maxLogprobGap(exportTo('mxfp4'), t, (p) => ours[p]);
  t.diagnostic(`q8 expert inputs against llama.cpp MXFP4: max |Δ log p| = ${gap.toExponential(3)} at position ${at}`);
  assert.ok(gap < Q8_GAP_BOUND, `q8 gap ${gap} at position ${at} exceeds ${Q8_GAP_BOUND}`);
});
