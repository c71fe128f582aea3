/**
 * What a capture job carries through the queue: everything a worker needs to produce one trace,
 * with the prompt already rendered to token ids, so workers need no prompt-file or UI context.
 */
import { z } from 'zod';

export const captureJobSchema = z.object({
  /** `live`: a run started in the app, streamed to the browser while it generates. */
  kind: z.enum(['batch', 'live']),
  /** Name of the model folder the job was planned for; a worker serving another model refuses it. */
  model: z.string().min(1),
  collection: z.string().nullable(),
  promptId: z.string().nullable(),
  /** The conversation as written (stored with the trace). */
  prompt: z.array(z.object({ role: z.string(), content: z.string() })),
  promptIds: z.array(z.number().int().nonnegative()).min(1),
  effort: z.string().nullable(),
  sampleIndex: z.number().int().nonnegative(),
  sampling: z.object({ temperature: z.number(), topP: z.number(), seed: z.number().int(), maxNewTokens: z.number().int().positive() }),
  capture: z.object({ routing: z.boolean(), attention: z.boolean(), attentionTopK: z.number().int().positive().optional() }),
  includeLogits: z.boolean(),
  tags: z.array(z.string()).default([]),
  /** The resume key of a batch job (lib/trace/capture-key.ts), stored on its trace. */
  captureKey: z.string().nullable().default(null),
});

export type CaptureJobData = z.infer<typeof captureJobSchema>;

/** Job states as the jobs page and `cotscope jobs` show them (pg-boss's created and retry are both queued). */
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface CollectionProgress {
  /** null for jobs enqueued without a collection. */
  collection: string | null;
  queued: number;
  running: number;
  done: number;
  failed: number;
  cancelled: number;
  /** Generated tokens of this collection's complete traces. */
  generatedTokens: number;
  /** Generated tokens per second since the collection's first attempt started; null before one completes. */
  tokensPerSecond: number | null;
  /** Seconds until queued and running jobs are done at the pace so far; null when unknown. */
  etaSeconds: number | null;
}

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  model: string;
  device: string;
  concurrency: number;
  startedAt: string;
  heartbeatAt: string;
  jobsDone: number;
  jobsFailed: number;
}

export interface JobFailure {
  jobId: string;
  queue: string;
  collection: string | null;
  promptId: string | null;
  effort: string | null;
  sampleIndex: number;
  state: 'failed' | 'retrying';
  attempts: number;
  error: string;
  at: string;
}

export interface JobsOverview {
  collections: CollectionProgress[];
  workers: WorkerInfo[];
  failures: JobFailure[];
}
