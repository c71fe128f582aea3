/**
 * The app's side of the queue (PostgreSQL only): live runs are enqueued ahead of batch jobs and
 * their tokens come back from whichever worker runs them. Unless COTSCOPE_APP_WORKER=0, the app
 * also runs one worker of its own, so a single `npm start` still serves live runs; dedicated
 * `cotscope worker` processes then share the load.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { loadRuntime } from '../runtime/runtime';
import type { Runtime } from '../runtime/types';
import type { Store } from '../store/index';
import type { RunEvent } from '../workbench/contracts';
import { LiveListener } from './live';
import { enqueueCaptureJobs, parsePromptFile, type EnqueueReport, type PromptFileProblem } from '../cli/capture';
import { aliveWorkers, CaptureQueue, DEFAULT_LEASE_SECONDS, DEFAULT_RETRY_LIMIT, LIVE_PRIORITY } from './queue';
import type { CaptureJobData, JobsOverview } from './types';
import { CaptureWorker } from './worker';

interface AppJobs {
  queue?: Promise<CaptureQueue>;
  listener?: Promise<LiveListener>;
  worker?: Promise<{ worker: CaptureWorker; runtime: Runtime } | null>;
}

// Next may load this module once per route bundle; the state lives on globalThis so all share it.
const globalJobs = globalThis as typeof globalThis & { __cotscopeJobs?: AppJobs };
const jobs: AppJobs = (globalJobs.__cotscopeJobs ??= {});

/** Whether captures go through the queue: a PostgreSQL store (DATABASE_URL). */
export function queueEnabled(): boolean {
  return Boolean(process.env.DATABASE_URL);
}

function retryOnFailure<T>(key: keyof AppJobs, open: () => Promise<T>): Promise<T> {
  const opened = open().catch((error) => {
    jobs[key] = undefined;
    throw error;
  });
  return opened;
}

export function appQueue(store: Store): Promise<CaptureQueue> {
  return (jobs.queue ??= retryOnFailure('queue', () => CaptureQueue.open(store)));
}

async function liveListener(store: Store): Promise<LiveListener> {
  if (jobs.listener && !(await jobs.listener.catch(() => null))?.alive) jobs.listener = undefined;
  return (jobs.listener ??= retryOnFailure('listener', () => LiveListener.open(process.env.DATABASE_URL!, store.backend.schema)));
}

/** Starts the app's own worker for `modelDir` once (not when COTSCOPE_APP_WORKER=0). */
export function ensureAppWorker(store: Store, modelDir: string): Promise<unknown> {
  jobs.worker ??= (async () => {
    if (process.env.COTSCOPE_APP_WORKER === '0') return null;
    const queue = await appQueue(store);
    const runtime = await loadRuntime(modelDir);
    const worker = new CaptureWorker(store, queue, [runtime], { device: runtime.device, log: (line) => console.log(`app worker: ${line}`) });
    worker.start().catch((error) => console.error(`app worker stopped: ${(error as Error).message}`));
    return { worker, runtime };
  })().catch((error) => {
    jobs.worker = undefined;
    throw error;
  });
  return jobs.worker;
}

/**
 * Enqueues a live run and relays its events from the worker that runs it; resolves with the trace
 * id when it is stored. Aborting cancels the job (the worker stores what it generated as cancelled).
 */
export async function queuedLiveRun(store: Store, modelDir: string, job: CaptureJobData, send: (event: RunEvent) => void, signal?: AbortSignal): Promise<string> {
  const [queue, listener, appWorker] = await Promise.all([appQueue(store), liveListener(store), ensureAppWorker(store, path.resolve(modelDir))]);
  if (!appWorker && !(await aliveWorkers(store, DEFAULT_LEASE_SECONDS)).some((worker) => worker.model === job.model)) {
    throw new Error(`no worker is serving model ${job.model}: start \`cotscope worker --model ${modelDir}\` (the app's own worker is off: COTSCOPE_APP_WORKER=0)`);
  }
  const jobId = randomUUID();
  return new Promise<string>((resolve, reject) => {
    let traceId = '';
    let settled = false;
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearInterval(poll);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(traceId);
    };
    const unsubscribe = listener.subscribe(jobId, (event) => {
      if (event.type === 'start') traceId = event.traceId;
      send(event);
      if (event.type === 'done') finish(null);
      if (event.type === 'error') finish(new Error(event.message));
    });
    // A worker that dies sends nothing more, and a dropped listener misses events: the job's state
    // says what happened (`done` is published before the job completes, so one more tick lets it arrive).
    let completedSeen = false;
    const poll = setInterval(() => {
      void (async () => {
        const state = await queue.state(jobId);
        if (state === 'failed') finish(new Error(`live run failed: ${(await queue.failure(jobId)) ?? 'unknown error'}`));
        if (state === 'cancelled' && signal?.aborted) finish(null);
        if (state === 'completed' && completedSeen) {
          // The relay lags (its NOTIFYs wait for a pooled connection): say `done` from the stored trace.
          const [stored] = await store.backend.fast.query<{ id: string; stop_reason: string; token_count: number }>(
            "SELECT id, stop_reason, token_count FROM traces WHERE job_id = $1 AND status IN ('complete', 'cancelled') ORDER BY completed_at DESC LIMIT 1", [jobId]);
          if (stored && !settled) {
            traceId = stored.id;
            send({ type: 'done', traceId, stopReason: stored.stop_reason, tokenCount: stored.token_count });
          }
          finish(null);
        }
        completedSeen = state === 'completed';
      })().catch(() => undefined);
    }, 1000);
    const onAbort = () => void queue.cancel({ jobIds: [jobId] }).catch(() => undefined);
    signal?.addEventListener('abort', onAbort);
    queue.enqueue([job], { ids: [jobId], priority: LIVE_PRIORITY, retryLimit: 0 }).catch((error) => finish(error as Error));
  });
}

/** Releases the app worker's jobs back to the queue and closes the queue (before the store closes). */
export async function closeAppJobs(): Promise<void> {
  const { worker, queue, listener } = jobs;
  jobs.worker = jobs.queue = jobs.listener = undefined;
  const running = await worker?.catch(() => null);
  if (running) {
    running.worker.release();
    await running.worker.start().catch(() => undefined);
    await running.runtime.close();
  }
  await Promise.allSettled([queue?.then((opened) => opened.close()), listener?.then((opened) => opened.close())]);
}

export const jobActionSchema = z.object({
  action: z.enum(['retry', 'cancel']),
  collection: z.string().max(500).nullable().optional(),
  jobIds: z.array(z.string().uuid()).max(10_000).optional(),
}).refine((input) => (input.collection !== undefined) !== (input.jobIds !== undefined), { message: 'give exactly one of collection or jobIds' });
export type JobAction = z.infer<typeof jobActionSchema>;

/** The jobs page's data; null with PGlite (no queue: captures run in the app process). */
export async function jobsOverview(store: Store): Promise<JobsOverview | null> {
  if (!queueEnabled()) return null;
  return (await appQueue(store)).overview();
}

/** Retries or cancels the selected jobs; returns how many changed. */
export async function changeJobs(store: Store, input: JobAction): Promise<number> {
  if (!queueEnabled()) throw new Error('there is no job queue with PGlite: set DATABASE_URL to a PostgreSQL server');
  const queue = await appQueue(store);
  const selector = input.jobIds ? { jobIds: input.jobIds } : { collection: input.collection ?? null };
  return input.action === 'retry' ? queue.retry(selector) : queue.cancel(selector);
}

export const batchCaptureSchema = z.object({
  /** The prompt file's text (JSONL, as for `cotscope capture --prompts`). */
  prompts: z.string().min(1).max(5_000_000),
  efforts: z.array(z.enum(['low', 'medium', 'high'])).min(1).max(3),
  samples: z.number().int().min(1).max(100).default(1),
  collection: z.string().trim().min(1).max(200),
  maxNewTokens: z.number().int().min(1).max(8192).default(256),
  temperature: z.number().min(0).max(2).default(1),
  topP: z.number().gt(0).max(1).default(1),
  seed: z.number().int().min(0).default(0),
  attention: z.boolean().default(false),
  includeLogits: z.boolean().default(true),
  retryLimit: z.number().int().min(0).max(10).default(DEFAULT_RETRY_LIMIT),
});
export type BatchCaptureRequest = z.infer<typeof batchCaptureSchema>;

/** A batch capture from the app: the same jobs `cotscope capture --enqueue` would queue. */
export async function enqueueBatch(store: Store, modelDir: string, input: BatchCaptureRequest): Promise<EnqueueReport & { problems: PromptFileProblem[] }> {
  if (!queueEnabled()) throw new Error('batch captures from the app need the job queue: set DATABASE_URL to a PostgreSQL server (or use `cotscope capture`)');
  const { prompts, problems } = parsePromptFile(input.prompts);
  if (prompts.length === 0) throw new z.ZodError([{ code: 'custom', path: ['prompts'], message: `no valid prompt lines (${problems.map((problem) => `line ${problem.line}: ${problem.message}`).join('; ')})`, input: undefined }]);
  const report = await enqueueCaptureJobs(await appQueue(store), modelDir, prompts, {
    efforts: input.efforts, samples: input.samples, collection: input.collection, includeLogits: input.includeLogits,
    capture: { routing: true, attention: input.attention },
    sampling: { maxNewTokens: input.maxNewTokens, temperature: input.temperature, topP: input.topP, seed: input.seed },
  }, { retryLimit: input.retryLimit });
  return { ...report, problems };
}
