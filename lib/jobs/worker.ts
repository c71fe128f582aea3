/**
 * A capture worker: takes jobs for its model from the queue, one per slot (`concurrency` slots,
 * each with its own runtime), and turns each into exactly one complete trace.
 *
 * Exactly once: every attempt is a trace linked to its job; a partial unique index lets only one
 * of them become complete. A worker that dies leaves its attempt `running` without heartbeats;
 * after the lease any worker fails that attempt and pg-boss retries the job (up to its retry limit).
 * On stop() a worker takes no new jobs and finishes the ones it has; release() stops them early,
 * stores their attempts as failed and gives the jobs back to the queue.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderPrompt } from '../runtime/prompt';
import type { Runtime } from '../runtime/types';
import type { Store } from '../store/index';
import { RELEASED_MESSAGE, runAttempt } from './execute';
import { LivePublisher } from './live';
import { CaptureQueue, DEFAULT_LEASE_SECONDS, isSecondCompletion, type FetchedJob } from './queue';
import { captureJobSchema } from './types';

export interface WorkerOptions {
  device: string;
  /** An attempt silent this long is failed and its job retried (default 30 s). */
  leaseSeconds?: number;
  /** Pause between empty fetches (default 500 ms). */
  pollMs?: number;
  log?: (line: string) => void;
}

interface Slot {
  runtime: Runtime;
  current: { job: FetchedJob; controller: AbortController } | null;
}

export class CaptureWorker {
  readonly id = randomUUID();
  private stopping = false;
  private releasing = false;
  private readonly wake = new AbortController();
  private readonly slots: Slot[];
  private readonly leaseSeconds: number;
  private readonly publisher: LivePublisher;
  private readonly log: (line: string) => void;
  private timers: NodeJS.Timeout[] = [];
  private finished: Promise<void> | null = null;

  /** `runtimes`: one per concurrent job, all of the same model. */
  constructor(private readonly store: Store, private readonly queue: CaptureQueue, runtimes: Runtime[], private readonly options: WorkerOptions) {
    if (runtimes.length === 0) throw new Error('a worker needs at least one runtime');
    this.slots = runtimes.map((runtime) => ({ runtime, current: null }));
    this.leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.publisher = new LivePublisher(store);
    this.log = options.log ?? (() => undefined);
  }

  get model(): string {
    return this.slots[0].runtime.name;
  }

  private get heartbeatMs(): number {
    return Math.max(250, (this.leaseSeconds * 1000) / 5);
  }

  /** Registers the worker and starts its slots; the returned promise settles when all slots have ended. */
  start(): Promise<void> {
    this.finished ??= this.run();
    return this.finished;
  }

  private async run(): Promise<void> {
    const { fast } = this.store.backend;
    // Sessions are built on first use, synchronously enough to starve heartbeats: build the
    // routing session (the batch default) before holding any lease.
    for (const slot of this.slots) {
      await slot.runtime.generate({ promptIds: renderPrompt({ user: 'warm-up', effort: 'low' }), sampling: { maxNewTokens: 1, temperature: 0 }, capture: { routing: true, attention: false } });
    }
    await fast.query('INSERT INTO workers (id, host, pid, model, device, concurrency) VALUES ($1, $2, $3, $4, $5, $6)',
      [this.id, hostname(), process.pid, this.model, this.options.device, this.slots.length]);
    this.log(`worker ${this.id} serving model ${this.model} on ${this.options.device} with ${this.slots.length} slot(s)`);
    this.timers.push(setInterval(() => void fast.query('UPDATE workers SET heartbeat_at = now() WHERE id = $1', [this.id]).catch(() => undefined), this.heartbeatMs));
    this.timers.push(setInterval(() => void this.reap(), Math.max(500, (this.leaseSeconds * 1000) / 2)));
    try {
      await Promise.all(this.slots.map((slot) => this.loop(slot)));
    } finally {
      for (const timer of this.timers) clearInterval(timer);
      await this.publisher.flush();
      await fast.query('UPDATE workers SET stopped_at = now() WHERE id = $1', [this.id]).catch(() => undefined);
    }
  }

  private async reap(): Promise<void> {
    try {
      for (const jobId of await this.queue.reapExpired(this.leaseSeconds)) this.log(`job ${jobId}: lease expired, attempt failed, job back in the queue`);
    } catch (error) {
      this.log(`lease check failed: ${(error as Error).message}`);
    }
  }

  /** Takes no new jobs; the running ones finish. */
  stop(): void {
    this.stopping = true;
    this.wake.abort();
  }

  /** Stops now: running attempts are stored as failed and their jobs go back to the queue. */
  release(): void {
    this.stop();
    this.releasing = true;
    for (const slot of this.slots) slot.current?.controller.abort();
  }

  get busy(): number {
    return this.slots.filter((slot) => slot.current).length;
  }

  private async loop(slot: Slot): Promise<void> {
    while (!this.stopping) {
      let job: FetchedJob | null = null;
      try {
        job = await this.queue.fetch(this.model);
      } catch (error) {
        this.log(`fetch failed: ${(error as Error).message}`);
      }
      if (!job) {
        await sleep(this.options.pollMs ?? 500, undefined, { signal: this.wake.signal }).catch(() => undefined);
        continue;
      }
      await this.process(slot, job);
    }
  }

  private async process(slot: Slot, job: FetchedJob): Promise<void> {
    const { fast } = this.store.backend;
    const label = `job ${job.id} (attempt ${job.retryCount + 1} of ${job.retryLimit + 1})`;
    const parsed = captureJobSchema.safeParse(job.data);
    if (!parsed.success) {
      await this.queue.fail(job.queue, job.id, `invalid job data: ${parsed.error.message}`);
      return;
    }
    const data = parsed.data;
    const [done] = await fast.query<{ id: string }>("SELECT id FROM traces WHERE job_id = $1 AND status = 'complete' LIMIT 1", [job.id]);
    if (done) {
      await this.queue.complete(job.queue, job.id, { traceId: done.id });
      this.log(`${label}: already has complete trace ${done.id}`);
      return;
    }
    const controller = new AbortController();
    slot.current = { job, controller };
    const send = data.kind === 'live' ? (event: Parameters<LivePublisher['send']>[1]) => this.publisher.send(job.id, event) : undefined;
    let cancelled = false;
    this.log(`${label}: started ${data.promptId ?? 'live run'} effort=${data.effort ?? '-'} sample=${data.sampleIndex}`);
    try {
      const attempt = await runAttempt(this.store, slot.runtime, data, {
        jobId: job.id, signal: controller.signal, send, heartbeatMs: this.heartbeatMs,
        released: () => this.releasing,
        onHeartbeat: async () => {
          const state = await this.queue.state(job.id);
          if (state === 'cancelled') { cancelled = true; controller.abort(); }
          return state === 'active' || state === 'cancelled';
        },
      });
      if (attempt.released) {
        await this.queue.fail(job.queue, job.id, RELEASED_MESSAGE);
        this.log(`${label}: released`);
      } else if (attempt.lost) {
        this.log(`${label}: lost its lease; trace ${attempt.traceId} was not stored as complete`);
      } else if (cancelled) {
        this.log(`${label}: cancelled; trace ${attempt.traceId} stored as cancelled`);
      } else {
        await this.queue.complete(job.queue, job.id, { traceId: attempt.traceId });
        await fast.query('UPDATE workers SET jobs_done = jobs_done + 1 WHERE id = $1', [this.id]);
        this.log(`${label}: complete, trace ${attempt.traceId}, ${attempt.result.tokens.length - attempt.result.promptLength} tokens`);
      }
    } catch (error) {
      if (isSecondCompletion(error)) {
        const [winner] = await fast.query<{ id: string }>("SELECT id FROM traces WHERE job_id = $1 AND status = 'complete' LIMIT 1", [job.id]);
        await this.queue.complete(job.queue, job.id, { traceId: winner.id });
        this.log(`${label}: another attempt completed first (trace ${winner.id}); this attempt is failed`);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        send?.({ type: 'error', message });
        await this.queue.fail(job.queue, job.id, message);
        await fast.query('UPDATE workers SET jobs_failed = jobs_failed + 1 WHERE id = $1', [this.id]);
        this.log(`${label}: FAILED: ${message}`);
      }
    } finally {
      slot.current = null;
    }
  }
}
