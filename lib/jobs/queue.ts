/**
 * The capture queue: pg-boss (a PostgreSQL `SKIP LOCKED` queue) on the store's own database, in
 * its own schema next to the store's. One pg-boss queue per model (`capture-<model folder>`), so a
 * worker only ever fetches jobs for the model it has loaded. pg-boss owns queueing, fetching,
 * retries with a limit, cancel and retry; cotscope adds the lease (a job whose attempt stopped
 * heartbeating is failed, and so retried, by whichever worker notices first) and the progress view.
 *
 * pg-boss runs over the store's connection pool (its `db` option), so it needs PostgreSQL: with
 * PGlite the app runs captures in process instead (lib/workbench/server.ts).
 */
import { randomUUID } from 'node:crypto';
import PgBoss from 'pg-boss';
import type { Store } from '../store/index';
export { isSecondCompletion } from '../store/traces';
import { captureJobSchema, type CaptureJobData, type CollectionProgress, type JobFailure, type JobsOverview, type WorkerInfo } from './types';

/** A queued job's prompt x effort x sample, to keep enqueueing the same file twice from doubling the work. */
export function pendingJobKey(promptId: string | null, effort: string | null, sampleIndex: number): string {
  return JSON.stringify([promptId, effort, sampleIndex]);
}

export const QUEUE_PREFIX = 'capture-';
/** Live runs from the app jump ahead of batch jobs in the same queue. */
export const LIVE_PRIORITY = 10;
export const DEFAULT_RETRY_LIMIT = 2;
/** pg-boss's own expiry: the longest a single generation may run before pg-boss fails it. */
export const DEFAULT_MAX_RUN_SECONDS = 6 * 60 * 60;
/** How long an attempt may go without a heartbeat before its job is failed and retried elsewhere. */
export const DEFAULT_LEASE_SECONDS = 30;

export interface EnqueueOptions {
  priority?: number;
  retryLimit?: number;
  maxRunSeconds?: number;
  /** Job ids to use (one per job), e.g. so a listener can subscribe before a worker starts the job. */
  ids?: string[];
}

export interface FetchedJob {
  id: string;
  queue: string;
  data: CaptureJobData;
  /** 0 on the first attempt. */
  retryCount: number;
  retryLimit: number;
}

export interface JobSelector {
  collection?: string | null;
  jobIds?: string[];
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export function queueNameFor(model: string): string {
  return `${QUEUE_PREFIX}${model.replace(/[^\w-]/g, '_')}`;
}

/** pg-boss's schema for a store schema: `pgboss` beside `public`, `<schema>_pgboss` beside any other. */
export function bossSchemaFor(storeSchema: string): string {
  return storeSchema === 'public' ? 'pgboss' : `${storeSchema}_pgboss`;
}

interface JobRow { id: string; name: string }

export class CaptureQueue {
  private readonly created = new Set<string>();

  private constructor(readonly store: Store, readonly boss: PgBoss, readonly schema: string) {}

  /** Opens pg-boss on the store's database, installing or migrating its schema when needed. */
  static async open(store: Store, options: { maintenance?: boolean } = {}): Promise<CaptureQueue> {
    if (store.backend.kind !== 'postgres') throw new Error('the capture queue needs PostgreSQL (set DATABASE_URL); with PGlite the app captures in process');
    const schema = bossSchemaFor(store.backend.schema);
    const boss = new PgBoss({
      db: { executeSql: async (text: string, values: unknown[]) => ({ rows: await store.backend.fast.query(text, values) }) },
      schema,
      supervise: options.maintenance ?? true,
      schedule: false,
      // Finished jobs stay visible to progress queries for a week.
      archiveCompletedAfterSeconds: 7 * 24 * 3600,
      archiveFailedAfterSeconds: 7 * 24 * 3600,
    });
    boss.on('error', (error) => console.error(`job queue: ${error.message}`));
    await boss.start();
    return new CaptureQueue(store, boss, schema);
  }

  private table(name: 'job' | 'archive'): string {
    return `${quoteIdent(this.schema)}.${name}`;
  }

  private async ensureQueue(name: string): Promise<void> {
    if (this.created.has(name)) return;
    if (!(await this.boss.getQueue(name))) {
      await this.boss.createQueue(name).catch(async (error) => {
        if (!(await this.boss.getQueue(name))) throw error; // another process created it meanwhile
      });
    }
    this.created.add(name);
  }

  /** Puts jobs in their model's queue; returns their ids in order. */
  async enqueue(jobs: CaptureJobData[], options: EnqueueOptions = {}): Promise<string[]> {
    const ids = jobs.map((_, index) => options.ids?.[index] ?? randomUUID());
    const byQueue = new Map<string, PgBoss.JobInsert[]>();
    jobs.forEach((job, index) => {
      const name = queueNameFor(job.model);
      const list = byQueue.get(name) ?? [];
      list.push({
        id: ids[index], name, data: captureJobSchema.parse(job), priority: options.priority ?? 0,
        retryLimit: options.retryLimit ?? DEFAULT_RETRY_LIMIT, retryDelay: 0,
        expireInSeconds: options.maxRunSeconds ?? DEFAULT_MAX_RUN_SECONDS,
      });
      byQueue.set(name, list);
    });
    for (const [name, list] of byQueue) {
      await this.ensureQueue(name);
      for (let start = 0; start < list.length; start += 1000) await this.boss.insert(list.slice(start, start + 1000));
    }
    return ids;
  }

  /** Takes the next job of a model's queue (priority first, then oldest), or null. */
  async fetch(model: string): Promise<FetchedJob | null> {
    const name = queueNameFor(model);
    await this.ensureQueue(name);
    const [job] = await this.boss.fetch<CaptureJobData>(name, { batchSize: 1, includeMetadata: true });
    if (!job) return null;
    return { id: job.id, queue: name, data: job.data, retryCount: job.retryCount, retryLimit: job.retryLimit };
  }

  async complete(queue: string, jobId: string, output: { traceId: string }): Promise<void> {
    await this.boss.complete(queue, jobId, output);
  }

  /** Fails an attempt; pg-boss puts the job back as `retry` while retries remain. */
  async fail(queue: string, jobId: string, message: string): Promise<void> {
    await this.boss.fail(queue, jobId, { message });
  }

  /** pg-boss state of a job (created, retry, active, completed, cancelled, failed) or null. */
  async state(jobId: string): Promise<string | null> {
    const rows = await this.store.backend.fast.query<{ state: string }>(`SELECT state::text AS state FROM ${this.table('job')} WHERE id = $1::uuid`, [jobId]);
    return rows[0]?.state ?? null;
  }

  async failure(jobId: string): Promise<string | null> {
    const rows = await this.store.backend.fast.query<{ message: string | null }>(
      `SELECT ${errorOf('output')} AS message FROM ${this.table('job')} WHERE id = $1::uuid`, [jobId]);
    return rows[0]?.message ?? null;
  }

  private async select(selector: JobSelector, states: string[]): Promise<JobRow[]> {
    const conditions = [`name LIKE '${QUEUE_PREFIX}%'`, 'state::text = ANY($1)'];
    const params: unknown[] = [states];
    if (selector.jobIds) { params.push(selector.jobIds); conditions.push(`id::text = ANY($${params.length})`); }
    if (selector.collection !== undefined) { params.push(selector.collection); conditions.push(`data->>'collection' IS NOT DISTINCT FROM $${params.length}`); }
    return this.store.backend.fast.query<JobRow>(`SELECT id::text AS id, name FROM ${this.table('job')} WHERE ${conditions.join(' AND ')}`, params);
  }

  private async perQueue(rows: JobRow[], action: (name: string, ids: string[]) => Promise<unknown>): Promise<number> {
    const byQueue = new Map<string, JobRow[]>();
    for (const row of rows) byQueue.set(row.name, [...(byQueue.get(row.name) ?? []), row]);
    for (const [name, group] of byQueue) {
      for (let start = 0; start < group.length; start += 1000) await action(name, group.slice(start, start + 1000).map((row) => row.id));
    }
    return rows.length;
  }

  /** pendingJobKey()s of a model's queued and running jobs in a collection. */
  async pendingKeys(model: string, collection: string | null): Promise<string[]> {
    const rows = await this.store.backend.fast.query<{ prompt_id: string | null; effort: string | null; sample_index: number }>(
      `SELECT data->>'promptId' AS prompt_id, data->>'effort' AS effort, (data->>'sampleIndex')::int AS sample_index FROM ${this.table('job')}
        WHERE name = $1 AND state::text IN ('created', 'retry', 'active') AND data->>'collection' IS NOT DISTINCT FROM $2`,
      [queueNameFor(model), collection]);
    return rows.map((row) => pendingJobKey(row.prompt_id, row.effort, row.sample_index));
  }

  /** Cancels queued and running jobs; a running attempt notices at its next heartbeat and is stored as cancelled. */
  async cancel(selector: JobSelector): Promise<number> {
    return this.perQueue(await this.select(selector, ['created', 'retry', 'active']), (name, ids) => this.boss.cancel(name, ids));
  }

  /** Queues failed jobs again (one more attempt each) and resumes cancelled ones. */
  async retry(selector: JobSelector): Promise<number> {
    const failed = await this.perQueue(await this.select(selector, ['failed']), (name, ids) => this.boss.retry(name, ids));
    const cancelled = await this.perQueue(await this.select(selector, ['cancelled']), (name, ids) => this.boss.resume(name, ids));
    return failed + cancelled;
  }

  /**
   * Fails running jobs whose attempt has not heartbeaten for `leaseSeconds` (worker killed, machine
   * gone, connection lost): their running attempt becomes `failed` and pg-boss retries the job while
   * retries remain. A job that already has a complete trace (its worker died between storing the
   * trace and completing the job) is completed instead. Returns the job ids handled.
   */
  async reapExpired(leaseSeconds: number): Promise<string[]> {
    // One reaper at a time (the others skip this round), deciding and failing in one transaction:
    // two reapers must not both fail a job, the second hitting the retry another worker just took.
    return this.store.backend.fast.transaction(async (query) => {
      const [{ locked }] = await query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked', [`cotscope-reaper:${this.schema}`]);
      if (!locked) return [];
      const stale = await query<JobRow & { complete_trace: string | null }>(
        `SELECT j.id::text AS id, j.name,
                (SELECT t.id FROM traces t WHERE t.job_id = j.id::text AND t.status = 'complete' LIMIT 1) AS complete_trace
           FROM ${this.table('job')} j
          WHERE j.name LIKE '${QUEUE_PREFIX}%' AND j.state = 'active' AND j.started_on < now() - make_interval(secs => $1)
            AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.job_id = j.id::text AND t.status = 'running' AND t.heartbeat_at > now() - make_interval(secs => $1))`,
        [leaseSeconds]);
      const db = { executeSql: async (text: string, values: unknown[]) => ({ rows: await query(text, values) }) };
      for (const job of stale) {
        if (job.complete_trace) {
          await this.boss.complete(job.name, job.id, { traceId: job.complete_trace }, { db });
          continue;
        }
        const message = `lease expired: no heartbeat from the attempt's worker for ${leaseSeconds} s (worker killed, machine lost or disconnected)`;
        await query(`UPDATE traces SET status = 'failed', error = $2, completed_at = now() WHERE job_id = $1 AND status = 'running'`, [job.id, message]);
        await this.boss.fail(job.name, job.id, { message }, { db });
      }
      return stale.map((job) => job.id);
    });
  }

  async overview(options: { failureLimit?: number; aliveSeconds?: number } = {}): Promise<JobsOverview> {
    const { fast } = this.store.backend;
    const both = `(SELECT id, name, data, state, output, retry_count, completed_on, created_on FROM ${this.table('job')}
                   UNION ALL SELECT id, name, data, state, output, retry_count, completed_on, created_on FROM ${this.table('archive')}) j`;
    const counts = await fast.query<{ collection: string | null; state: string; jobs: number }>(
      `SELECT data->>'collection' AS collection, state::text AS state, count(*)::int AS jobs FROM ${both}
        WHERE name LIKE '${QUEUE_PREFIX}%' GROUP BY 1, 2`);
    const pace = await fast.query<{ collection: string | null; tokens: string; seconds: number | null; done: number }>(
      `SELECT j.data->>'collection' AS collection,
              COALESCE(sum(t.token_count - t.prompt_tokens) FILTER (WHERE t.status = 'complete'), 0)::text AS tokens,
              EXTRACT(EPOCH FROM (CASE WHEN bool_or(t.status = 'running') THEN now() ELSE max(t.completed_at) END) - min(t.created_at))::float8 AS seconds,
              count(*) FILTER (WHERE t.status = 'complete')::int AS done
         FROM traces t JOIN ${both} ON j.id::text = t.job_id
        WHERE j.name LIKE '${QUEUE_PREFIX}%' GROUP BY 1`);
    const byCollection = new Map<string | null, CollectionProgress>();
    const entry = (collection: string | null) => {
      let progress = byCollection.get(collection);
      if (!progress) {
        progress = { collection, queued: 0, running: 0, done: 0, failed: 0, cancelled: 0, generatedTokens: 0, tokensPerSecond: null, etaSeconds: null };
        byCollection.set(collection, progress);
      }
      return progress;
    };
    for (const row of counts) {
      const progress = entry(row.collection);
      const state = row.state === 'created' || row.state === 'retry' ? 'queued' : row.state === 'active' ? 'running' : row.state === 'completed' ? 'done' : row.state;
      if (state === 'queued' || state === 'running' || state === 'done' || state === 'failed' || state === 'cancelled') progress[state] += row.jobs;
    }
    for (const row of pace) {
      const progress = entry(row.collection);
      progress.generatedTokens = Number(row.tokens);
      if (row.seconds && row.seconds > 0 && row.done > 0) {
        progress.tokensPerSecond = progress.generatedTokens / row.seconds;
        progress.etaSeconds = ((progress.queued + progress.running) * row.seconds) / row.done;
      }
    }
    const failures = await fast.query<{ id: string; name: string; data: CaptureJobData; state: string; message: string | null; retry_count: number; at: Date }>(
      `SELECT id::text AS id, name, data, state::text AS state, ${errorOf('output')} AS message, retry_count, COALESCE(completed_on, created_on) AS at
         FROM ${both}
        WHERE name LIKE '${QUEUE_PREFIX}%' AND (state = 'failed' OR (state = 'retry' AND output IS NOT NULL))
        ORDER BY at DESC LIMIT $1`, [options.failureLimit ?? 50]);
    return {
      collections: [...byCollection.values()].sort((a, b) => (a.collection ?? '').localeCompare(b.collection ?? '')),
      workers: await aliveWorkers(this.store, options.aliveSeconds ?? DEFAULT_LEASE_SECONDS),
      failures: failures.map((row): JobFailure => ({
        jobId: row.id, queue: row.name, collection: row.data.collection, promptId: row.data.promptId, effort: row.data.effort,
        sampleIndex: row.data.sampleIndex, state: row.state === 'failed' ? 'failed' : 'retrying', attempts: row.retry_count + 1,
        error: row.message ?? 'unknown error', at: new Date(row.at).toISOString(),
      })),
    };
  }

  /** Stops pg-boss (its maintenance timers); the store stays open. */
  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, close: false, wait: true });
  }
}

/** pg-boss keeps a failure as `{ message }` (ours) or `{ value: { message } }` (its own expiry). */
function errorOf(column: string): string {
  return `COALESCE(${column}->>'message', ${column}->'value'->>'message', ${column}::text)`;
}

export async function aliveWorkers(store: Store, aliveSeconds: number): Promise<WorkerInfo[]> {
  const rows = await store.backend.fast.query<{
    id: string; host: string; pid: number; model: string; device: string; concurrency: number;
    started_at: Date; heartbeat_at: Date; jobs_done: number; jobs_failed: number;
  }>(
    `SELECT id, host, pid, model, device, concurrency, started_at, heartbeat_at, jobs_done, jobs_failed FROM workers
      WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1) ORDER BY started_at`, [aliveSeconds]);
  return rows.map((row) => ({
    id: row.id, host: row.host, pid: row.pid, model: row.model, device: row.device, concurrency: row.concurrency,
    startedAt: new Date(row.started_at).toISOString(), heartbeatAt: new Date(row.heartbeat_at).toISOString(),
    jobsDone: row.jobs_done, jobsFailed: row.jobs_failed,
  }));
}
