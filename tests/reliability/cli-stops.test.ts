/**
 * Issue 8, defect 8 (CLI part): SIGTERM stops `capture` and `run` the way Ctrl-C does (the trace
 * in progress is stored `cancelled` with what was generated, not left `running`); bad --seed and
 * --threads values are refused.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { backendsUnderTest, withStore } from '../db/helpers';
import { tinyModelFixture } from './model-fixture';
import { finished, runCli, spawnCli, waitForLine } from './processes';

const fixture = tinyModelFixture('cotscope-stops-');

/**
 * Resolves once the process has opened a file under `dir` (Linux /proc/PID/fd). `run` installs its
 * signal handlers right after loading the checkpoint; tsx's own handlers make /proc's SigCgt useless here.
 */
async function openedFileUnder(child: ChildProcess, dir: string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before opening a file under ${dir}`);
    const targets = readdirSync(`/proc/${child.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${child.pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    if (targets.some((target) => target.startsWith(dir))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('bad numeric options are refused', () => {
  const cases: [string[], RegExp][] = [
    [['run', '--seed', '1.5'], /--seed must be an integer in 0\.\.4294967295/],
    [['run', '--seed=-1'], /--seed must be an integer in 0\.\.4294967295/],
    [['run', '--threads', '0'], /--threads must be an integer >= 1/],
    [['run', '--max-new-tokens', '2.5'], /--max-new-tokens must be an integer >= 1/],
    [['capture', '--prompts', '/dev/null', '--seed', '1.5'], /--seed must be an integer/],
    [['capture', '--prompts', '/dev/null', '--threads', '0'], /--threads must be an integer >= 1/],
    [['capture', '--prompts', '/dev/null', '--seed', '4294967295', '--samples', '2'], /sample seeds S\.\.S\+N-1 must stay <= 4294967295/],
  ];
  for (const [args, message] of cases) {
    test(`cotscope ${args.join(' ')} fails with a clear message`, async () => {
      const prompt = args[0] === 'run' ? ['--prompt', 'hi'] : [];
      const run = await runCli([...args, '--model', fixture.modelDir, ...prompt, ...(args.includes('--max-new-tokens') ? [] : ['--max-new-tokens', '1'])], { DATABASE_URL: '', COTSCOPE_DATA_DIR: join(fixture.work, 'options-data') });
      assert.equal(run.code, 1, `${run.stdout}${run.stderr}`);
      assert.match(run.stderr, message);
    });
  }
});

describe('SIGTERM stops like Ctrl-C', () => {
  test('cotscope run prints what was generated as cancelled and exits 143', async () => {
    const child = spawnCli(['run', '--model', fixture.modelDir, '--prompt', 'Count to a thousand.', '--max-new-tokens', '6000', '--capture', 'none', '--json']);
    const output = finished(child);
    await openedFileUnder(child, fixture.modelDir);
    await sleep(2000); // handlers installed, sessions built
    child.kill('SIGTERM');
    const run = await output;
    assert.equal(run.code, 143, run.stderr);
    const document = JSON.parse(run.stdout) as { stopReason: string; tokens: number[]; promptLength: number };
    assert.equal(document.stopReason, 'cancelled');
  });

  for (const backend of backendsUnderTest()) {
    test(`cotscope capture stores the trace in progress as cancelled with its tokens and exits 143 (${backend.name})`, async () => {
      try {
        const prompts = join(fixture.work, `sigterm-${backend.name}.jsonl`);
        writeFileSync(prompts, `${JSON.stringify({ id: 'long', prompt: 'Count to a thousand.' })}\n`);
        const child = spawnCli(['capture', '--model', fixture.modelDir, '--prompts', prompts, '--effort', 'low', '--max-new-tokens', '6000', '--collection', 'sigterm'], backend.childEnv);
        const output = finished(child);
        await waitForLine(child, /^started long/);
        await sleep(5000); // sessions built, decoding under way
        child.kill('SIGTERM');
        const run = await output;
        assert.equal(run.code, 143, run.stderr);
        assert.match(run.stderr, /SIGTERM: stopping after storing the trace in progress as cancelled/);
        await withStore(backend, async (store) => {
          const [item] = (await store.traces.list({ collection: 'sigterm' })).items;
          assert.equal(item.status, 'cancelled');
          const trace = await store.traces.get(item.id, { includeRawCot: true });
          assert.ok(trace && trace.tokens.length > trace.promptLength, 'the tokens generated before SIGTERM are kept');
          assert.equal(trace.routing?.numTokens, trace.tokens.length);
        }, { recoverStale: false });
      } finally {
        await backend.cleanup();
      }
    });
  }
});
