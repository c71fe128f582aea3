/**
 * The runtime on a real generated tiny checkpoint and real onnxruntime sessions: KV cache and
 * chunked prefill equal one full prefill; stopping, cancellation and input errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeGeneratedCheckpoint } from '../../../lib/model/generate';
import { STOP_TOKENS } from '../../../lib/harmony/tokenizer';
import { loadRuntime } from '../../../lib/runtime/runtime';
import { SeededRandom } from '../../../lib/runtime/sampler';
import type { Runtime } from '../../../lib/runtime/types';
import type { RunResult } from '../../../lib/trace/types';

let dir: string;
let runtime: Runtime;
const greedy = { temperature: 0, topP: 1, seed: 0 };
const fullCapture = { routing: true, attention: true, attentionTopK: 8 };

function randomIds(count: number, seed: number): number[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => Math.floor(random.next() * 199998));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, count: number): number {
  let max = 0;
  for (let i = 0; i < count; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-runtime-'));
  await writeGeneratedCheckpoint(dir, 'tiny', { seed: 1 });
  runtime = await loadRuntime(dir, { prefillChunk: 64 });
});

after(async () => {
  await runtime?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('prefill plus decode through the KV cache equals one full prefill, past the sliding window', async () => {
  const prompt = randomIds(150, 3);
  const decoded = await runtime.generate({ promptIds: prompt, sampling: { ...greedy, maxNewTokens: 12 }, capture: fullCapture });
  assert.equal(decoded.tokens.length, 162);
  // Feed the whole sequence as one prompt (chunked by 64) and generate one token.
  const prefilled = await runtime.generate({ promptIds: decoded.tokens, sampling: { ...greedy, maxNewTokens: 1 }, capture: fullCapture });
  const rows = decoded.tokens.length;
  const r1 = decoded.routing!;
  const r2 = prefilled.routing!;
  assert.equal(r1.numTokens, rows, 'every token, the last sampled one included, has a routing row');
  const L = r1.numLayers;
  const E = r1.numExperts;
  assert.ok(maxAbsDiff(r1.logits, r2.logits, rows * L * E) < 1e-4, 'router logits agree');
  assert.deepEqual(Array.from(r1.experts.subarray(0, rows * L * r1.topK)), Array.from(r2.experts.subarray(0, rows * L * r1.topK)));
  const a1 = decoded.attention!;
  const a2 = prefilled.attention!;
  assert.ok(maxAbsDiff(a1.sinkMass, a2.sinkMass, rows * L * a1.numHeads) < 1e-4, 'sink mass agrees');
  assert.deepEqual(Array.from(a1.topPositions.subarray(0, rows * L * a1.numHeads * 8)), Array.from(a2.topPositions.subarray(0, rows * L * a1.numHeads * 8)));
  // Positions past the window on a sliding layer (layer 0) attend only to the last 128 keys.
  for (let t = 140; t < rows; t++) {
    for (let h = 0; h < a1.numHeads; h++) {
      for (let j = 0; j < 8; j++) {
        const p = a1.topPositions[((t * L + 0) * a1.numHeads + h) * 8 + j];
        assert.ok(p === -1 || (p <= t && t - p < 128), `token ${t} head ${h} attends to ${p}`);
      }
    }
  }
});

test('chunk size does not change the result', async () => {
  const prompt = randomIds(100, 5);
  const other = await loadRuntime(dir, { prefillChunk: 7 });
  try {
    const a = await runtime.generate({ promptIds: prompt, sampling: { ...greedy, maxNewTokens: 4 }, capture: { routing: true, attention: false } });
    const b = await other.generate({ promptIds: prompt, sampling: { ...greedy, maxNewTokens: 4 }, capture: { routing: true, attention: false } });
    assert.deepEqual(a.tokens, b.tokens);
    assert.ok(maxAbsDiff(a.logprobs, b.logprobs, a.logprobs.length) < 1e-4);
    assert.ok(maxAbsDiff(a.routing!.logits, b.routing!.logits, a.routing!.logits.length) < 1e-4);
  } finally {
    await other.close();
  }
});

test('capture does not change what is generated', async () => {
  const prompt = randomIds(40, 6);
  const sampling = { temperature: 1, topP: 0.9, seed: 9, maxNewTokens: 8 };
  const runs: RunResult[] = [];
  for (const capture of [{ routing: false, attention: false }, fullCapture]) runs.push(await runtime.generate({ promptIds: prompt, sampling, capture }));
  assert.deepEqual(runs[0].tokens, runs[1].tokens);
  assert.equal(runs[0].routing, null);
  assert.equal(runs[0].attention, null);
});

test('generation stops right after a stop token', async () => {
  assert.deepEqual([...STOP_TOKENS], [200002, 200012]);
  const prompt = randomIds(20, 7);
  const free = await runtime.generate({ promptIds: prompt, sampling: { ...greedy, maxNewTokens: 6 } });
  const third = free.tokens[prompt.length + 2];
  const stopped = await runtime.generate({ promptIds: prompt, sampling: { ...greedy, maxNewTokens: 6 }, stopTokens: [third] });
  const firstHit = free.tokens.slice(prompt.length).indexOf(third);
  assert.equal(stopped.stopReason, 'stop_token');
  assert.equal(stopped.tokens.length, prompt.length + firstHit + 1);
  assert.equal(free.stopReason, 'max_tokens');
  assert.equal(free.logprobs.length, 6);
});

test('an aborted signal cancels generation and keeps what was generated', async () => {
  const controller = new AbortController();
  const seen: number[] = [];
  const result = await runtime.generate({
    promptIds: randomIds(10, 8),
    sampling: { ...greedy, maxNewTokens: 50 },
    capture: { routing: true, attention: false },
    signal: controller.signal,
    onToken: (event) => {
      seen.push(event.token);
      assert.equal(event.experts?.length, runtime.config.numLayers);
      if (seen.length === 3) controller.abort();
    },
  });
  assert.equal(result.stopReason, 'cancelled');
  assert.deepEqual(result.tokens.slice(10), seen);
  assert.equal(result.routing!.numTokens, result.tokens.length);
});

test('generation gives the event loop a turn every step: a timer set at the first token aborts it mid-decode', async () => {
  const controller = new AbortController();
  let tokensSeen = 0;
  const result = await runtime.generate({
    promptIds: randomIds(10, 9),
    sampling: { ...greedy, maxNewTokens: 2000 },
    stopTokens: [],
    signal: controller.signal,
    onToken: () => {
      if (tokensSeen++ === 0) setTimeout(() => controller.abort(), 0);
    },
  });
  assert.equal(result.stopReason, 'cancelled', `the timer fired only after ${tokensSeen} tokens`);
  assert.ok(tokensSeen < 100, `${tokensSeen} tokens before the timer ran`);
});

test('a token id outside the vocabulary is a clear error naming the id and index', async () => {
  await assert.rejects(runtime.generate({ promptIds: [1, 2, 201088] }), /token id 201088 at index 2 is outside the vocabulary \[0, 201088\)/);
  await assert.rejects(runtime.generate({ promptIds: [1, -1] }), /token id -1 at index 1/);
  await assert.rejects(runtime.generate({ promptIds: [1.5] }), /token id 1.5 at index 0/);
  await assert.rejects(runtime.generate({ promptIds: [] }), /prompt is empty/);
});

test('a prompt longer than the context is refused before anything runs', async () => {
  const small = await loadRuntime(dir, { maxSequence: 64 });
  try {
    await assert.rejects(small.generate({ promptIds: randomIds(64, 9) }), /prompt of 64 tokens does not fit the context of 64 tokens/);
    const full = await small.generate({ promptIds: randomIds(60, 9), sampling: { ...greedy, maxNewTokens: 100 } });
    assert.equal(full.stopReason, 'context_full');
    assert.equal(full.tokens.length, 64);
  } finally {
    await small.close();
  }
});
