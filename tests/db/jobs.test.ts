/**
 * The capture queue's bookkeeping with an in-process worker on PostgreSQL: a job that fails is
 * retried up to its limit and stays failed with its error; retry queues it again; cancel stops
 * queued jobs and retry resumes them; enqueueing the same plan twice adds nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { captureJobData, enqueueCapture, planJobs, type CaptureSettings } from '../../lib/cli/capture';
import { CaptureQueue, isSecondCompletion } from '../../lib/jobs/queue';
import type { CollectionProgress } from '../../lib/jobs/types';
import { CaptureWorker } from '../../lib/jobs/worker';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { loadRuntime } from '../../lib/runtime/runtime';
import type { Runtime } from '../../lib/runtime/types';
import { openStore, type Store } from '../../lib/store/index';
import { backendsUnderTest, modelIdentity, syntheticRun, TINY_SHAPE } from './helpers';

const postgres = backendsUnderTest().find((backend) => backend.name === 'postgres');

const settings = (collection: string): CaptureSettings => ({
  efforts: ['low'], samples: 2, collection, includeLogits: false, capture: { routing: true, attention: false },
  sampling: { maxNewTokens: 8, temperature: 1, topP: 1, seed: 0 },
});

describe('capture queue bookkeeping (postgres)', { skip: postgres ? false : 'needs PostgreSQL (DATABASE_URL)' }, () => {
  let modelDir: string;
  let store: Store;
  let queue: CaptureQueue;
  let runtime: Runtime;

  before(async () => {
    modelDir = join(mkdtempSync(join(tmpdir(), 'cotscope-jobs-')), 'tiny');
    await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 2 });
    runtime = await loadRuntime(modelDir, { threads: 1 });
    store = await openStore(postgres!.options);
    queue = await CaptureQueue.open(store, { maintenance: false });
  });
  after(async () => {
    await queue?.close();
    await store?.close();
    await runtime?.close();
    await postgres?.cleanup();
    rmSync(join(modelDir, '..'), { recursive: true, force: true });
  });

  const progress = async (collection: string): Promise<CollectionProgress | undefined> =>
    (await queue.overview()).collections.find((row) => row.collection === collection);

  async function drain(collection: string, expectedFinished: number): Promise<CollectionProgress> {
    const worker = new CaptureWorker(store, queue, [runtime], { device: 'cpu', leaseSeconds: 10, pollMs: 50 });
    const running = worker.start();
    try {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
        const row = await progress(collection);
        if (row && row.done + row.failed + row.cancelled === expectedFinished && row.queued + row.running === 0) return row;
      }
      throw new Error(`collection ${collection} did not finish: ${JSON.stringify(await progress(collection))}`);
    } finally {
      worker.stop();
      await running;
    }
  }

  test('a failing job is tried retryLimit + 1 times, then stays failed with its error; retry queues it again', async () => {
    const prompt = { id: 'bad', prompt: 'x' };
    const [planned] = planJobs([prompt], settings('failing'), []).todo;
    const job = { ...captureJobData('tiny', planned, settings('failing')), promptIds: [10_000_000] };
    const [jobId] = await queue.enqueue([job], { retryLimit: 1 });
    const finished = await drain('failing', 1);
    assert.equal(finished.failed, 1);
    const { failures } = await queue.overview();
    const failure = failures.find((row) => row.jobId === jobId);
    assert.equal(failure?.state, 'failed');
    assert.equal(failure?.attempts, 2);
    assert.match(failure?.error ?? '', /token id 10000000 at index 0 is outside the vocabulary/);
    const attempts = await store.backend.fast.query<{ status: string; error: string }>('SELECT status::text AS status, error FROM traces WHERE job_id = $1', [jobId]);
    assert.deepEqual(attempts.map((row) => row.status), ['failed', 'failed']);
    assert.ok(attempts.every((row) => /outside the vocabulary/.test(row.error)));

    assert.equal(await queue.retry({ jobIds: [jobId] }), 1);
    assert.equal(await queue.state(jobId), 'retry');
  });

  test('cancel stops queued jobs, retry resumes them, and enqueueing the same plan again adds nothing', async () => {
    const prompts = [{ id: 'p1', prompt: 'One.' }, { id: 'p2', prompt: 'Two.' }];
    const first = await enqueueCapture(modelDir, prompts, settings('cancelled'), { retryLimit: 0 }, postgres!.options);
    assert.equal(first.enqueued, 4);
    const again = await enqueueCapture(modelDir, prompts, settings('cancelled'), { retryLimit: 0 }, postgres!.options);
    assert.deepEqual([again.enqueued, again.skipped], [0, 4]);
    assert.equal(await queue.cancel({ collection: 'cancelled' }), 4);
    assert.equal((await progress('cancelled'))?.cancelled, 4);
    assert.equal(await queue.retry({ collection: 'cancelled' }), 4);
    const finished = await drain('cancelled', 4);
    assert.equal(finished.done, 4);
    assert.ok((finished.tokensPerSecond ?? 0) > 0, 'a finished collection reports its pace');
    const complete = await store.traces.list({ collection: 'cancelled', status: 'complete' }, { limit: 10 });
    assert.equal(complete.total, 4);
  });

  test('the database refuses a second complete trace for one job, whatever the queue did', async () => {
    const jobId = randomUUID();
    const run = syntheticRun(TINY_SHAPE, 9);
    const attempt = () => store.traces.create({ model: modelIdentity(TINY_SHAPE), prompt: [{ role: 'user', content: 'x' }], sampling: run.sampling, jobId });
    const [first, second] = [await attempt(), await attempt()];
    await store.traces.complete(first, run);
    await assert.rejects(store.traces.complete(second, run), (error) => isSecondCompletion(error));
    assert.equal((await store.traces.get(second, { includeRawCot: false }))?.status, 'running', 'the refused attempt wrote nothing');
  });
});
