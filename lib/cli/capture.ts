/**
 * `cotscope capture`: run every prompt of a JSONL file at each reasoning effort, N samples each,
 * and store the traces. Resumable (prompt x effort x sample already complete is skipped), clean
 * on Ctrl-C (the trace in progress is stored as `cancelled`; a second Ctrl-C quits at once and
 * the next start marks that trace failed).
 *
 * Prompt file: one JSON object per line (blank lines and lines starting with # are ignored):
 *   {"id": "q1", "prompt": "What is 2 + 2?"}
 *   {"id": "q2", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "channel": "final", "content": "Hello"},
 *                             {"role": "user", "content": "Tell me a joke"}],
 *    "system": "You are a terse assistant.", "developer": "Answer in one line.", "tags": ["smalltalk"]}
 * id: unique string; exactly one of prompt (a user message) or messages; system: the model
 * identity line of the system message; developer: developer instructions; tags: strings added to
 * each trace. Invalid lines are reported with their line number and skipped.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { renderConversation, type HarmonyMessage, type ReasoningEffort } from '../harmony/render';
import { renderPrompt } from '../runtime/prompt';
import { loadRuntime } from '../runtime/runtime';
import type { CaptureOptions, Runtime } from '../runtime/types';
import { captureKey, openStore, type PromptMessage, type Store, type StoreOptions } from '../store/index';
import { HEARTBEAT_INTERVAL_MS } from '../store/owner';
import type { SamplingParams } from '../trace/types';
import { parseCaptureList } from './run';
import { openCheckpoint } from '../model/checkpoint';
import { configHash } from '../model/config';
import { CaptureQueue, DEFAULT_RETRY_LIMIT } from '../jobs/queue';
import type { CaptureJobData } from '../jobs/types';

const HELP = `usage: cotscope capture --model DIR --prompts FILE.jsonl [options]

  --model DIR              HF-layout gpt-oss checkpoint folder
  --prompts FILE           JSONL prompts: {"id", "prompt" | "messages", "system"?, "developer"?, "tags"?}
  --effort LIST            reasoning efforts, comma-separated (default medium)
  --samples N              samples per prompt and effort; sample i uses seed S+i (default 1)
  --collection NAME        add every trace to this collection (created when missing)
  --capture LIST           routing,attention | routing | attention | none (default routing)
  --attention-top-k K      attended positions kept per head (default 8)
  --no-router-logits       do not store raw router logits (they are most of the routing bytes)
  --max-new-tokens N       (default 256)
  --temperature T          (default 1)
  --top-p P                (default 1)
  --seed S                 base sampler seed (default 0)
  --threads N              onnxruntime intra-op threads (default: all cores)
  --enqueue                put the prompt x effort x sample jobs in the PostgreSQL job queue and exit;
                           \`cotscope worker\` processes run them (any machine with DATABASE_URL and the model)
  --retry-limit N          with --enqueue: retries per job after a failed attempt (default 2)

The store is PostgreSQL when DATABASE_URL is set, else PGlite under COTSCOPE_DATA_DIR (./data).`;

const EFFORTS: readonly ReasoningEffort[] = ['low', 'medium', 'high'];

const messageSchema = z.object({
  role: z.enum(['user', 'assistant', 'tool', 'developer', 'system']),
  content: z.string(),
  channel: z.string().optional(),
  name: z.string().optional(),
  recipient: z.string().optional(),
});

const promptLineSchema = z.object({
  id: z.union([z.string().min(1), z.number()]).transform(String),
  prompt: z.string().optional(),
  messages: z.array(messageSchema).min(1).optional(),
  system: z.string().optional(),
  developer: z.string().optional(),
  tags: z.array(z.string().min(1)).optional(),
}).refine((line) => (line.prompt === undefined) !== (line.messages === undefined), { message: 'give exactly one of "prompt" or "messages"' });

export type PromptLine = z.infer<typeof promptLineSchema>;

export interface PromptFileProblem {
  line: number;
  message: string;
}

/** Parses a JSONL prompt file; bad lines become problems (with line numbers), not failures. */
export function parsePromptFile(text: string): { prompts: PromptLine[]; problems: PromptFileProblem[] } {
  const prompts: PromptLine[] = [];
  const problems: PromptFileProblem[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      problems.push({ line, message: `not valid JSON (${(error as Error).message})` });
      return;
    }
    const parsed = promptLineSchema.safeParse(json);
    if (!parsed.success) {
      const reasons = parsed.error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
      problems.push({ line, message: reasons.join('; ') });
      return;
    }
    const firstLine = seen.get(parsed.data.id);
    if (firstLine !== undefined) {
      problems.push({ line, message: `id "${parsed.data.id}" was already used on line ${firstLine}` });
      return;
    }
    seen.set(parsed.data.id, line);
    prompts.push(parsed.data);
  });
  return { prompts, problems };
}

/** Conversation as stored with the trace (what the researcher wrote, before rendering). */
export function promptMessages(prompt: PromptLine): PromptMessage[] {
  const leading: PromptMessage[] = [];
  if (prompt.system !== undefined) leading.push({ role: 'system', content: prompt.system });
  if (prompt.developer !== undefined) leading.push({ role: 'developer', content: prompt.developer });
  const body = prompt.messages ?? [{ role: 'user' as const, content: prompt.prompt ?? '' }];
  return [...leading, ...body.map((message) => ({ ...message }))];
}

export function renderPromptLine(prompt: PromptLine, effort: ReasoningEffort): number[] {
  if (prompt.prompt !== undefined) return renderPrompt({ user: prompt.prompt, effort, system: prompt.system, developer: prompt.developer });
  return renderConversation({
    system: { reasoningEffort: effort, modelIdentity: prompt.system },
    developer: prompt.developer !== undefined ? { instructions: prompt.developer } : null,
    messages: (prompt.messages ?? []) as HarmonyMessage[],
  });
}

export interface CaptureJob {
  prompt: PromptLine;
  effort: ReasoningEffort;
  sampleIndex: number;
}

export function planJobs(prompts: PromptLine[], efforts: readonly ReasoningEffort[], samples: number, done: Set<string>): { todo: CaptureJob[]; skipped: number } {
  const all = prompts.flatMap((prompt) => efforts.flatMap((effort) => Array.from({ length: samples }, (_, sampleIndex) => ({ prompt, effort, sampleIndex }))));
  const todo = all.filter((job) => !done.has(captureKey(job.prompt.id, job.effort, job.sampleIndex)));
  return { todo, skipped: all.length - todo.length };
}

export interface CaptureSettings {
  efforts: readonly ReasoningEffort[];
  samples: number;
  collection: string | null;
  capture: CaptureOptions;
  sampling: SamplingParams;
  includeLogits: boolean;
}

export interface CaptureReport {
  planned: number;
  skipped: number;
  complete: number;
  failed: number;
  cancelled: boolean;
}

/** Progress line: done/total, tokens/s, ETA. Redrawn in place on a terminal, one line per trace otherwise. */
class Progress {
  private readonly started = Date.now();
  private tokens = 0;
  constructor(private readonly total: number, private readonly stream: NodeJS.WriteStream) {}
  addTokens(count: number) { this.tokens += count; }
  /** Off a terminal, also log when each trace starts (so logs show what a crash interrupted). */
  traceStarted(label: string): void {
    if (!this.stream.isTTY) this.stream.write(`started ${label}\n`);
  }
  render(done: number, note: string, final = false): void {
    const elapsedSeconds = (Date.now() - this.started) / 1000;
    const tokensPerSecond = elapsedSeconds > 0 ? this.tokens / elapsedSeconds : 0;
    const eta = done > 0 ? ((this.total - done) * elapsedSeconds) / done : NaN;
    const width = 24;
    const filled = this.total > 0 ? Math.round((done / this.total) * width) : width;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`;
    const text = `${bar} · ${tokensPerSecond.toFixed(1)} tok/s · ETA ${formatDuration(eta)} · ${note}`;
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${text}${final ? '\n' : ''}`);
    else this.stream.write(`${text}\n`);
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = whole % 60;
  return hours > 0 ? `${hours}h${String(minutes).padStart(2, '0')}m` : minutes > 0 ? `${minutes}m${String(secs).padStart(2, '0')}s` : `${secs}s`;
}

/** Runs the jobs one by one; each trace is `running` while it generates and written in one transaction at the end. */
export async function runCapture(store: Store, runtime: Runtime, prompts: PromptLine[], settings: CaptureSettings, signal: AbortSignal, stream = process.stderr): Promise<CaptureReport> {
  const done = await store.traces.completedKeys({ modelName: runtime.name, configHash: runtime.configHash, collection: settings.collection });
  const { todo, skipped } = planJobs(prompts, settings.efforts, settings.samples, done);
  const report: CaptureReport = { planned: todo.length + skipped, skipped, complete: 0, failed: 0, cancelled: false };
  if (skipped > 0) stream.write(`skipping ${skipped} prompt x effort x sample already complete\n`);
  const progress = new Progress(todo.length, stream);
  const model = {
    name: runtime.name, configHash: runtime.configHash, numLayers: runtime.config.numLayers, numExperts: runtime.config.numExperts,
    expertsPerToken: runtime.config.expertsPerToken, numHeads: runtime.config.numHeads, hiddenSize: runtime.config.hiddenSize, vocabSize: runtime.config.vocabSize,
  };
  for (const [index, job] of todo.entries()) {
    if (signal.aborted) { report.cancelled = true; break; }
    const label = `${job.prompt.id} effort=${job.effort} sample=${job.sampleIndex}`;
    const sampling = { ...settings.sampling, seed: settings.sampling.seed + job.sampleIndex };
    const id = await store.traces.create({
      model, prompt: promptMessages(job.prompt), promptId: job.prompt.id, effort: job.effort, sampleIndex: job.sampleIndex,
      sampling, collection: settings.collection, tags: job.prompt.tags,
    });
    progress.traceStarted(label);
    const beat = setInterval(() => { store.traces.heartbeat(id).catch(() => undefined); }, HEARTBEAT_INTERVAL_MS);
    beat.unref();
    try {
      const result = await runtime.generate({
        promptIds: renderPromptLine(job.prompt, job.effort), sampling, capture: settings.capture, signal,
        onToken: () => progress.addTokens(1),
      });
      clearInterval(beat);
      await store.traces.complete(id, result, { includeLogits: settings.includeLogits });
      if (result.stopReason === 'cancelled') { report.cancelled = true; progress.render(index, `${label}: cancelled`, true); break; }
      report.complete += 1;
      progress.render(index + 1, `${label}: complete, ${result.tokens.length - result.promptLength} tokens`);
    } catch (error) {
      clearInterval(beat);
      const cancelled = signal.aborted;
      const message = cancelled ? 'cancelled by user' : error instanceof Error ? error.message : String(error);
      await store.traces.fail(id, message, cancelled ? 'cancelled' : 'failed');
      if (cancelled) { report.cancelled = true; progress.render(index, `${label}: cancelled`, true); break; }
      report.failed += 1;
      progress.render(index + 1, `${label}: FAILED (${message})`);
    }
  }
  if (todo.length > 0 && stream.isTTY && !report.cancelled) stream.write('\n');
  return report;
}

/** Builds the queue job of one prompt x effort x sample (the prompt rendered to token ids here, once). */
export function captureJobData(model: string, job: CaptureJob, settings: CaptureSettings): CaptureJobData {
  return {
    kind: 'batch', model, collection: settings.collection, promptId: job.prompt.id, prompt: promptMessages(job.prompt),
    promptIds: renderPromptLine(job.prompt, job.effort), effort: job.effort, sampleIndex: job.sampleIndex,
    sampling: { ...settings.sampling, seed: settings.sampling.seed + job.sampleIndex },
    capture: settings.capture, includeLogits: settings.includeLogits, tags: job.prompt.tags ?? [],
  };
}

export interface EnqueueReport { model: string; enqueued: number; skipped: number }

/**
 * Enqueues every prompt x effort x sample not already complete in the store nor already queued or
 * running in the collection, so enqueueing the same file twice does not double the work.
 */
export async function enqueueCaptureJobs(queue: CaptureQueue, modelDir: string, prompts: PromptLine[], settings: CaptureSettings, options: { retryLimit: number }): Promise<EnqueueReport> {
  const checkpoint = openCheckpoint(modelDir);
  const { name } = checkpoint;
  const hash = configHash(checkpoint.config);
  checkpoint.close();
  const done = await queue.store.traces.completedKeys({ modelName: name, configHash: hash, collection: settings.collection });
  for (const key of await queue.pendingKeys(name, settings.collection)) done.add(key);
  const { todo, skipped } = planJobs(prompts, settings.efforts, settings.samples, done);
  await queue.enqueue(todo.map((job) => captureJobData(name, job, settings)), { retryLimit: options.retryLimit });
  return { model: name, enqueued: todo.length, skipped };
}

/** enqueueCaptureJobs with its own store and queue connection (the CLI). */
export async function enqueueCapture(modelDir: string, prompts: PromptLine[], settings: CaptureSettings, options: { retryLimit: number }, storeOptions: StoreOptions = {}): Promise<EnqueueReport> {
  const store = await openStore(storeOptions);
  try {
    const queue = await CaptureQueue.open(store, { maintenance: false });
    try {
      return await enqueueCaptureJobs(queue, modelDir, prompts, settings, options);
    } finally {
      await queue.close();
    }
  } finally {
    await store.close();
  }
}

function numberOption(value: string | undefined, flag: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))) throw new Error(`${flag} must be ${integer ? 'an integer' : 'a number'} (got "${value}")`);
  return parsed;
}

export function parseEfforts(value: string): ReasoningEffort[] {
  const efforts = value.split(',').map((piece) => piece.trim()).filter(Boolean);
  const unknown = efforts.filter((effort) => !EFFORTS.includes(effort as ReasoningEffort));
  if (efforts.length === 0 || unknown.length > 0) throw new Error(`--effort takes low, medium, high (comma-separated); got "${value}"`);
  return [...new Set(efforts)] as ReasoningEffort[];
}

export async function runCaptureCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string' },
      prompts: { type: 'string' },
      effort: { type: 'string', default: 'medium' },
      samples: { type: 'string', default: '1' },
      collection: { type: 'string' },
      capture: { type: 'string', default: 'routing' },
      'attention-top-k': { type: 'string' },
      'no-router-logits': { type: 'boolean', default: false },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      enqueue: { type: 'boolean', default: false },
      'retry-limit': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  if (!values.model || !values.prompts) { console.error(`--model and --prompts are required\n\n${HELP}`); return 2; }
  const samples = numberOption(values.samples, '--samples', 1, true);
  if (samples < 1) throw new Error(`--samples must be at least 1 (got ${samples})`);
  const settings: CaptureSettings = {
    efforts: parseEfforts(values.effort!),
    samples,
    collection: values.collection ?? null,
    capture: parseCaptureList(values.capture!, numberOption(values['attention-top-k'], '--attention-top-k', 8, true)),
    includeLogits: !values['no-router-logits'],
    sampling: {
      maxNewTokens: numberOption(values['max-new-tokens'], '--max-new-tokens', 256, true),
      temperature: numberOption(values.temperature, '--temperature', 1),
      topP: numberOption(values['top-p'], '--top-p', 1),
      seed: numberOption(values.seed, '--seed', 0, true),
    },
  };
  const { prompts, problems } = parsePromptFile(readFileSync(values.prompts, 'utf8'));
  for (const problem of problems) console.error(`${values.prompts}:${problem.line}: skipped: ${problem.message}`);
  if (prompts.length === 0) { console.error(`${values.prompts}: no valid prompts`); return 1; }
  if (values.enqueue) {
    const retryLimit = numberOption(values['retry-limit'], '--retry-limit', DEFAULT_RETRY_LIMIT, true);
    const report = await enqueueCapture(values.model, prompts, settings, { retryLimit });
    console.error(`enqueued ${report.enqueued} jobs for model ${report.model}` +
      `${report.skipped > 0 ? ` (${report.skipped} skipped: already complete or queued)` : ''}; run \`cotscope worker --model DIR\` to process them`);
    return 0;
  }

  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      console.error('\nsecond Ctrl-C: quitting now; the trace in progress will be marked failed on the next start');
      process.exit(130);
    }
    console.error('\nCtrl-C: stopping after storing the trace in progress as cancelled (Ctrl-C again to quit now)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const store = await openStore();
  try {
    const runtime = await loadRuntime(values.model, { threads: values.threads === undefined ? undefined : numberOption(values.threads, '--threads', 1, true) });
    try {
      const report = await runCapture(store, runtime, prompts, settings, controller.signal);
      console.error(`${report.complete} complete, ${report.failed} failed, ${report.skipped} skipped of ${report.planned}` +
        `${report.cancelled ? ' (cancelled: run the same command again to resume)' : ''} · store: ${store.backend.location}`);
      if (report.cancelled) return 130;
      return report.failed > 0 ? 1 : 0;
    } finally {
      await runtime.close();
    }
  } finally {
    process.off('SIGINT', onSigint);
    await store.close();
  }
}
