/**
 * Batch capture against a real generated checkpoint and real onnxruntime sessions: the stored
 * trace equals what the runtime returned, and a capture process killed with SIGKILL mid-way
 * never leaves a trace marked complete that is not whole.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { storedTraceJson } from '../../lib/cli/traces';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { renderPrompt } from '../../lib/runtime/prompt';
import { loadRuntime } from '../../lib/runtime/runtime';
import type { Runtime } from '../../lib/runtime/types';
import { openStore } from '../../lib/store/index';
import { toRunJson } from '../../lib/trace/json';
import { spawnCli, waitForLine } from '../reliability/processes';
import { backendsUnderTest, maxRelativeError } from './helpers';

const HALF_RELATIVE_ERROR = 2 ** -11;
let modelDir: string;
let runtime: Runtime;

before(async () => {
  modelDir = mkdtempSync(join(tmpdir(), 'cotscope-capture-model-'));
  await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 3 });
  runtime = await loadRuntime(modelDir);
});

after(async () => {
  await runtime?.close();
  rmSync(modelDir, { recursive: true, force: true });
});

for (const backend of backendsUnderTest()) {
  describe(`batch capture into the store (${backend.name})`, () => {
    after(() => backend.cleanup());

    test('a trace captured from the runtime reads back equal to the runtime output', async () => {
      const result = await runtime.generate({
        promptIds: renderPrompt({ user: 'Name three colors.', effort: 'low' }),
        sampling: { maxNewTokens: 24, temperature: 0.8, topP: 0.9, seed: 11 },
        capture: { routing: true, attention: true, attentionTopK: 4 },
      });
      const store = await openStore(backend.options);
      try {
        const id = await store.traces.create({
          model: { name: runtime.name, configHash: runtime.configHash, numLayers: runtime.config.numLayers, numExperts: runtime.config.numExperts,
            expertsPerToken: runtime.config.expertsPerToken, numHeads: runtime.config.numHeads, hiddenSize: runtime.config.hiddenSize, vocabSize: runtime.config.vocabSize },
          prompt: [{ role: 'user', content: 'Name three colors.' }], effort: 'low', sampling: result.sampling,
        });
        await store.traces.complete(id, result, { chunkTokens: 32 });
        const stored = await store.traces.get(id, { includeRawCot: true });
        assert.ok(stored?.routing && stored.attention && result.routing && result.attention);
        const expected = toRunJson(result);
        const actual = storedTraceJson(stored);
        for (const key of ['model', 'tokens', 'promptLength', 'messages', 'logprobs', 'sampling', 'stopReason', 'timings'] as const) {
          assert.deepEqual(actual[key], expected[key], key);
        }
        assert.deepEqual(actual.routing?.experts, expected.routing?.experts);
        assert.deepEqual(actual.attention?.top.positions, expected.attention?.top.positions);
        assert.ok(maxRelativeError(stored.routing.weights, result.routing.weights) <= HALF_RELATIVE_ERROR);
        assert.ok(maxRelativeError(stored.routing.logits, result.routing.logits) <= HALF_RELATIVE_ERROR);
        assert.ok(maxRelativeError(stored.attention.sinkMass, result.attention.sinkMass) <= HALF_RELATIVE_ERROR);
        assert.ok(maxRelativeError(stored.attention.topWeights, result.attention.topWeights) <= HALF_RELATIVE_ERROR);
      } finally {
        await store.close();
      }
    });

    test('a capture killed with SIGKILL mid-trace is marked failed, never complete, and a rerun resumes', async () => {
      const work = mkdtempSync(join(tmpdir(), 'cotscope-capture-'));
      const prompts = join(work, 'prompts.jsonl');
      writeFileSync(prompts, `${JSON.stringify({ id: 'p1', prompt: 'Count to ten.' })}\n`);
      const args = ['capture', '--model', modelDir, '--prompts', prompts, '--effort', 'low', '--samples', '3', '--max-new-tokens', '400', '--collection', 'kill-test'];
      try {
        const child = spawnCli(args, backend.childEnv);
        // The second trace has started generating after the first one completed: kill it there.
        await waitForLine(child, /^started .*sample=1/);
        await new Promise((resolve) => setTimeout(resolve, 300));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.on('exit', resolve));

        const store = await openStore(backend.options); // recovers stale running traces on open
        let firstRun;
        try {
          firstRun = (await store.traces.list({ collection: 'kill-test' }, { limit: 10 })).items;
          const interrupted = firstRun.filter((item) => item.status !== 'complete');
          assert.equal(interrupted.length, 1, 'exactly the trace in progress is unfinished');
          const failed = await store.traces.get(interrupted[0].id, { includeRawCot: true });
          assert.equal(failed?.status, 'failed');
          assert.match(failed?.metadata.error ?? '', /interrupted: capture process \d+ .* is gone/);
          for (const item of firstRun.filter((row) => row.status === 'complete')) {
            const whole = await store.traces.get(item.id, { includeRawCot: true });
            assert.equal(whole?.tokens.length, item.tokenCount);
            assert.equal(whole?.routing?.numTokens, item.tokenCount);
          }
        } finally {
          await store.close();
        }

        const rerun = spawnCli(args, backend.childEnv);
        const output = await new Promise<string>((resolve) => {
          let text = '';
          rerun.stderr!.on('data', (data: Buffer) => { text += data.toString(); });
          rerun.on('exit', (code) => { assert.equal(code, 0, text); resolve(text); });
        });
        const completedBefore = firstRun.filter((item) => item.status === 'complete').length;
        assert.match(output, new RegExp(`skipping ${completedBefore} prompt x effort x sample already complete`));
        const reopened = await openStore(backend.options);
        try {
          const all = (await reopened.traces.list({ collection: 'kill-test' }, { limit: 10 })).items;
          const complete = all.filter((item) => item.status === 'complete').map((item) => item.sampleIndex).sort();
          assert.deepEqual(complete, [0, 1, 2]);
        } finally {
          await reopened.close();
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  });
}
