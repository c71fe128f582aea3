/**
 * One capture attempt: create the trace (`running`, linked to its job), generate while
 * heartbeating, store it in one transaction. Shared by queue workers and the app's in-process
 * live runs (PGlite), so both produce the same traces and the same live events.
 */
import { decodeToken, StreamingDecoder } from '../harmony/tokenizer';
import { activeRules } from '../review/rules';
import { filterStoredTrace } from '../review/store';
import type { Runtime } from '../runtime/types';
import type { ModelIdentity, Store } from '../store/index';
import type { RunResult } from '../trace/types';
import type { RunEvent } from '../workbench/contracts';
import type { CaptureJobData } from './types';

export interface AttemptOptions {
  jobId?: string | null;
  /** Aborting stops generation; what was generated is stored as `cancelled`. */
  signal?: AbortSignal;
  /** Live events (start, one per token, done); none for batch jobs. */
  send?: (event: RunEvent) => void;
  heartbeatMs: number;
  /** Called at each heartbeat; returning false (or a lost trace) aborts the attempt. */
  onHeartbeat?: (traceId: string) => Promise<boolean>;
  onStarted?: (traceId: string) => void;
  /** Checked when generation stopped early: true stores the attempt as failed (released back to the queue), not cancelled. */
  released?: () => boolean;
}

/** Message of an attempt given back to the queue by a worker shutting down. */
export const RELEASED_MESSAGE = 'released: the worker shut down before the attempt finished; the job goes back to the queue';

export interface AttemptResult {
  traceId: string;
  result: RunResult;
  /** True when the trace stopped heartbeating as `running` (failed by a lease reaper or a cancel). */
  lost: boolean;
  /** True when the attempt was released on shutdown (stored as failed). */
  released: boolean;
}

export function modelIdentity(runtime: Runtime): ModelIdentity {
  const { config } = runtime;
  return {
    name: runtime.name, configHash: runtime.configHash, numLayers: config.numLayers, numExperts: config.numExperts,
    expertsPerToken: config.expertsPerToken, numHeads: config.numHeads, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize,
  };
}

export function tokenTexts(tokens: number[]): string[] {
  return tokens.map((token) => (token >= 0 ? decodeToken(token) : ''));
}

/**
 * Runs one attempt to the end. Throws when generation or storing fails (the trace is then marked
 * failed); returns `lost: true` without storing when the trace was taken away meanwhile.
 */
export async function runAttempt(store: Store, runtime: Runtime, job: CaptureJobData, options: AttemptOptions): Promise<AttemptResult> {
  const traceId = await store.traces.create({
    model: modelIdentity(runtime), prompt: job.prompt, promptId: job.promptId, effort: job.effort, sampleIndex: job.sampleIndex,
    sampling: job.sampling, collection: job.collection, tags: job.tags, jobId: options.jobId ?? null, captureKey: job.captureKey,
  });
  options.onStarted?.(traceId);
  const { send } = options;
  const { config } = runtime;
  send?.({ type: 'start', traceId, promptLength: job.promptIds.length, numLayers: config.numLayers, numExperts: config.numExperts, topK: config.expertsPerToken, promptTexts: tokenTexts(job.promptIds) });
  const stop = new AbortController();
  let lost = false;
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) stop.abort();
  const beat = setInterval(() => {
    void (async () => {
      const alive = (await store.traces.heartbeat(traceId)) && (await (options.onHeartbeat?.(traceId) ?? true));
      if (!alive && !stop.signal.aborted) { lost = true; stop.abort(); }
    })().catch(() => undefined); // a missed beat is what the lease is for
  }, options.heartbeatMs);
  const decoder = new StreamingDecoder();
  try {
    const result = await runtime.generate({
      promptIds: job.promptIds, sampling: job.sampling, capture: job.capture, signal: stop.signal,
      onToken: send && ((event) => send({ type: 'token', index: event.index, text: decoder.push(event.token), experts: event.experts ?? null, weights: event.weights ?? null })),
    });
    clearInterval(beat);
    const released = !lost && result.stopReason === 'cancelled' && (options.released?.() ?? false);
    if (released) await store.traces.fail(traceId, RELEASED_MESSAGE);
    else if (!lost) {
      await store.traces.complete(traceId, result, { includeLogits: job.includeLogits });
      // Filtered when stored, as batch captures are; a filter failure never fails the capture (the view filters on the fly).
      await filterStoredTrace(store, traceId, activeRules()).catch((error: unknown) => console.error(`cotscope: trace ${traceId}: filter failed: ${(error as Error).message}`));
      send?.({ type: 'done', traceId, stopReason: result.stopReason, tokenCount: result.tokens.length });
    }
    return { traceId, result, lost, released };
  } catch (error) {
    clearInterval(beat);
    await store.traces.fail(traceId, error instanceof Error ? error.message : String(error), options.signal?.aborted ? 'cancelled' : 'failed').catch(() => undefined);
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
