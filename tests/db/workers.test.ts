/**
 * The capture queue with real worker processes on one PostgreSQL database: three `cotscope
 * worker` processes share twelve jobs, one is killed with SIGKILL in the middle of a job; every
 * job still ends with exactly one complete trace, and the killed attempt is `failed`.
 * PostgreSQL only: the queue needs a server (with PGlite the app captures in process).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { enqueueCapture, type CaptureSettings } from '../../lib/cli/capture';
import { CaptureQueue } from '../../lib/jobs/queue';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { openStore, type Store } from '../../lib/store/index';
import { backendsUnderTest } from './helpers';

const postgres = backendsUnderTest().find((backend) => backend.name === 'postgres');
const LEASE_SECONDS = 3;

const SETTINGS: CaptureSettings = {
  efforts: ['low', 'medium', 'high'], samples: 2, collection: 'kill-9', includeLogits: true,
  capture: { routing: true, attention: false },
  sampling: { maxNewTokens: 160, temperature: 1, topP: 1, seed: 5 },
};
const PROMPTS = [{ id: 'p1', prompt: 'Count to ten.' }, { id: 'p2', prompt: 'Name a color.' }];

interface WorkerProcess { child: ChildProcess; output: string[]; exited: Promise<number | null> }

function startWorker(modelDir: string, env: Record<string, string>, extra: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'worker', '--model', modelDir, '--threads', '1', '--lease-seconds', String(LEASE_SECONDS), ...extra],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stderr!.on('data', (data: Buffer) => output.push(data.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

async function until<T>(what: string, probe: () => Promise<T | null> | T | null, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('capture workers on one PostgreSQL database', { skip: postgres ? false : 'needs PostgreSQL (DATABASE_URL)' }, () => {
  let modelDir: string;
  let store: Store;
  before(async () => {
    modelDir = join(mkdtempSync(join(tmpdir(), 'cotscope-workers-')), 'tiny');
    await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 4 });
    store = await openStore(postgres!.options);
  });
  after(async () => {
    await store?.close();
    await postgres?.cleanup();
    rmSync(join(modelDir, '..'), { recursive: true, force: true });
  });

  test('three workers, twelve jobs, one worker killed with -9 mid-job: one complete trace per job, the killed attempt failed', async () => {
    const enqueued = await enqueueCapture(modelDir, PROMPTS, SETTINGS, { retryLimit: 2 }, postgres!.options);
    assert.equal(enqueued.enqueued, 12);
    const workers = [0, 1, 2].map(() => startWorker(modelDir, postgres!.childEnv));
    try {
      // The first worker to start a job is killed while that job generates.
      const started = (worker: WorkerProcess) => /job (\S+) \(attempt 1 of 3\): started/.exec(worker.output.join(''))?.[1] ?? null;
      const victim = await until('a worker to start a job', () => workers.find((worker) => started(worker) !== null) ?? null, 120_000);
      const killedJob = started(victim)!;
      await new Promise((resolve) => setTimeout(resolve, 200));
      victim.child.kill('SIGKILL');
      assert.equal(await victim.exited, null);

      const queue = await CaptureQueue.open(store, { maintenance: false });
      try {
        const finished = await until('all twelve jobs to finish', async () => {
          const [progress] = (await queue.overview()).collections;
          return progress && progress.done + progress.failed === 12 ? progress : null;
        }, 180_000);
        assert.equal(finished.done, 12, `every job done: ${JSON.stringify(finished)}`);
        assert.equal(finished.failed, 0);
      } finally {
        await queue.close();
      }

      const attempts = await store.backend.fast.query<{ job_id: string; status: string; error: string | null; token_count: number }>(
        'SELECT job_id, status::text AS status, error, token_count FROM traces WHERE job_id IS NOT NULL ORDER BY created_at');
      const jobs = new Set(attempts.map((row) => row.job_id));
      assert.equal(jobs.size, 12, 'nothing lost: an attempt for every job');
      for (const jobId of jobs) {
        const complete = attempts.filter((row) => row.job_id === jobId && row.status === 'complete');
        assert.equal(complete.length, 1, `job ${jobId} has exactly one complete trace`);
      }
      const killed = attempts.filter((row) => row.job_id === killedJob);
      assert.deepEqual(killed.map((row) => row.status), ['failed', 'complete'], 'the killed attempt failed, a retry completed the job');
      assert.match(killed[0].error ?? '', /lease expired|is gone/);
      const completeTraces = await store.traces.list({ collection: 'kill-9', status: 'complete' }, { limit: 20 });
      assert.equal(completeTraces.total, 12);
      for (const item of completeTraces.items) {
        const trace = await store.traces.get(item.id, { includeRawCot: true });
        assert.equal(trace?.routing?.numTokens, item.tokenCount, 'complete traces are whole');
      }
      const filtered = await store.backend.fast.query<{ trace_id: string }>(
        'SELECT DISTINCT trace_id FROM filter_outputs WHERE trace_id = ANY(string_to_array($1, \',\'))', [completeTraces.items.map((item) => item.id).join(',')]);
      assert.equal(filtered.length, 12, 'worker-run traces are filtered when stored, as batch captures are');
    } finally {
      const survivors = workers.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
      for (const worker of survivors) worker.child.kill('SIGTERM');
      const codes = await Promise.all(survivors.map((worker) => worker.exited));
      assert.deepEqual(codes, [0, 0], 'the surviving workers stop cleanly on SIGTERM');
    }
  });

  async function sigtermDuringJob(collection: string, maxNewTokens: number, graceSeconds: number): Promise<{ jobId: string; state: string | null; attempts: Array<{ status: string; error: string | null }>; log: string }> {
    const settings: CaptureSettings = { ...SETTINGS, efforts: ['low'], samples: 1, collection, sampling: { ...SETTINGS.sampling, maxNewTokens } };
    await enqueueCapture(modelDir, [PROMPTS[0]], settings, { retryLimit: 2 }, postgres!.options);
    const worker = startWorker(modelDir, postgres!.childEnv, ['--grace-seconds', String(graceSeconds)]);
    const jobId = await until('the worker to start the job', () => /job (\S+) \(attempt 1 of 3\): started/.exec(worker.output.join(''))?.[1] ?? null, 120_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.output.join(''));
    const queue = await CaptureQueue.open(store, { maintenance: false });
    try {
      const attempts = await store.backend.fast.query<{ status: string; error: string | null }>('SELECT status::text AS status, error FROM traces WHERE job_id = $1', [jobId]);
      return { jobId, state: await queue.state(jobId), attempts, log: worker.output.join('') };
    } finally {
      await queue.close();
    }
  }

  test('SIGTERM lets the running job finish within the grace period', async () => {
    const { state, attempts, log } = await sigtermDuringJob('sigterm-finish', 200, 60);
    assert.equal(state, 'completed', log);
    assert.deepEqual(attempts.map((row) => row.status), ['complete']);
  });

  test('SIGTERM past the grace period releases the job: the attempt is failed and the job queued again', async () => {
    const { state, attempts, log } = await sigtermDuringJob('sigterm-release', 4000, 1);
    assert.equal(state, 'retry', log);
    assert.deepEqual(attempts.map((row) => row.status), ['failed']);
    assert.match(attempts[0].error ?? '', /released/);
  });
});
