/**
 * `cotscope capture`: run every prompt of a JSONL file at each reasoning effort, N samples each,
 * and store the traces. Resumable: a prompt x effort x sample already complete with the same
 * rendered prompt and settings (lib/trace/capture-key.ts) is skipped, one whose prompt or settings
 * changed is captured anew. Clean on Ctrl-C or SIGTERM (the trace in progress is stored as
 * `cancelled`; a second signal quits at once and the next start marks that trace failed).
 *
 * Prompt file: one JSON object per line (blank lines and lines starting with # are ignored):
 *   {"id": "q1", "prompt": "What is 2 + 2?"}
 *   {"id": "q2", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "channel": "final", "content": "Hello"},
 *                             {"role": "user", "content": "Tell me a joke"}],
 *    "system": "You are a terse assistant.", "developer": "Answer in one line.", "tags": ["smalltalk"]}
 * id: unique string; exactly one of prompt (a user message) or messages; system: the model
 * identity line of the system message; developer: developer instructions; tags: strings added to
 * each trace. Invalid lines (including text the store cannot hold: NUL, lone surrogates) are
 * reported with their line number and skipped.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { z } from 'zod';
import { renderConversation, type HarmonyMessage, type ReasoningEffort } from '../harmony/render';
import { renderPrompt } from '../runtime/prompt';
import { requireCliRole } from './access';
import { activeRules, type FilterRules } from '../review/rules';
import { filterStoredTrace } from '../review/store';
import { loadRuntime } from '../runtime/runtime';
import type { CaptureOptions, Runtime } from '../runtime/types';
import { openStore, TraceNotSavedError, type CompletedCapture, type PromptMessage, type Store, type StoreOptions } from '../store/index';
import { HEARTBEAT_INTERVAL_MS } from '../store/owner';
import { captureKeyHash } from '../trace/capture-key';
import { storableText, unstorableTextReason } from '../trace/text';
import type { SamplingParams } from '../trace/types';
import { attentionTopKOption, integerOption, MAX_SEED, maxNewTokensOption, DEVICE_HELP, deviceOption, PRECISION_HELP, precisionOption, EXPERT_INPUTS_HELP, expertInputsOption, numberOption, OptionError, seedOption, threadsOption } from './options';
import { parseCaptureList } from './run';
import { abortOnStopSignals, signalLabel, SIGNAL_EXIT_CODES } from './signals';
import { openCheckpoint } from '../model/checkpoint';
import { configHash } from '../model/config';
import { CaptureQueue, DEFAULT_RETRY_LIMIT, pendingJobKey } from '../jobs/queue';
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
  --seed S                 base sampler seed, 0..4294967295; sample i uses S+i (default 0)
  --threads N              onnxruntime intra-op threads, at least 1 (default: all cores)
  ${DEVICE_HELP}
  ${PRECISION_HELP}
  ${EXPERT_INPUTS_HELP}
  --enqueue                put the prompt x effort x sample jobs in the PostgreSQL job queue and exit;
                           \`cotscope worker\` processes run them (any machine with DATABASE_URL and the model)
  --retry-limit N          with --enqueue: retries per job after a failed attempt (default 2)

Run it again to resume: what a complete trace already holds with the same rendered prompt and
settings is skipped (and named); a reused id with another prompt or settings is captured anew.
Ctrl-C or SIGTERM stores the trace in progress as cancelled; a second one quits at once.

The store is PostgreSQL when DATABASE_URL is set, else PGlite under COTSCOPE_DATA_DIR (./data).`;

const EFFORTS: readonly ReasoningEffort[] = ['low', 'medium', 'high'];

const messageSchema = z.object({
  role: z.enum(['user', 'assistant', 'tool', 'developer', 'system']),
  content: storableText(),
  channel: storableText().optional(),
  name: storableText().optional(),
  recipient: storableText().optional(),
});

const promptLineSchema = z.object({
  id: z.union([storableText(z.string().min(1)), z.number()]).transform(String),
  prompt: storableText().optional(),
  messages: z.array(messageSchema).min(1).optional(),
  system: storableText().optional(),
  developer: storableText().optional(),
  tags: z.array(storableText(z.string().min(1))).optional(),
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
  /** The rendered prompt; null when it cannot be rendered (the job then fails with the renderer's error). */
  promptIds: number[] | null;
  /** This sample's sampling (its own seed). */
  sampling: SamplingParams;
  /** lib/trace/capture-key.ts; null when the prompt cannot be rendered. */
  captureKey: string | null;
  /** A complete trace of the same prompt id, effort and sample whose prompt or settings differ. */
  supersedes: string | null;
}

export interface SkippedJob {
  job: CaptureJob;
  /** The complete trace that already holds this capture. */
  traceId: string;
}

export const jobLabel = (job: CaptureJob): string => `${job.prompt.id} effort=${job.effort} sample=${job.sampleIndex}`;

function renderOrNull(prompt: PromptLine, effort: ReasoningEffort): number[] | null {
  try {
    return renderPromptLine(prompt, effort);
  } catch {
    return null;
  }
}

/** Whether a complete trace holds this very capture. Traces stored before capture keys are compared on the prompt and sampling they kept. */
export function holdsCapture(trace: CompletedCapture, job: CaptureJob): boolean {
  if (trace.captureKey !== null) return trace.captureKey === job.captureKey;
  const storedForm = JSON.parse(JSON.stringify(promptMessages(job.prompt))) as PromptMessage[];
  return isDeepStrictEqual(trace.prompt, storedForm) && isDeepStrictEqual(trace.sampling, job.sampling);
}

const slotKey = (promptId: string, effort: string | null, sampleIndex: number): string => JSON.stringify([promptId, effort, sampleIndex]);

function completedBySlot(completed: CompletedCapture[]): Map<string, CompletedCapture[]> {
  const bySlot = new Map<string, CompletedCapture[]>();
  for (const trace of completed) {
    const key = slotKey(trace.promptId, trace.effort, trace.sampleIndex);
    const traces = bySlot.get(key);
    if (traces) traces.push(trace);
    else bySlot.set(key, [trace]);
  }
  return bySlot;
}

/** Every prompt x effort x sample, split into what to capture and what a complete trace already holds. */
export function planJobs(prompts: PromptLine[], settings: CaptureSettings, completed: CompletedCapture[]): { todo: CaptureJob[]; skipped: SkippedJob[] } {
  const recorded = {
    routing: settings.capture.routing, attention: settings.capture.attention,
    attentionTopK: settings.capture.attentionTopK ?? null, routerLogits: settings.includeLogits,
  };
  const bySlot = completedBySlot(completed);
  const todo: CaptureJob[] = [];
  const skipped: SkippedJob[] = [];
  for (const prompt of prompts) {
    for (const effort of settings.efforts) {
      const promptIds = renderOrNull(prompt, effort);
      for (let sampleIndex = 0; sampleIndex < settings.samples; sampleIndex++) {
        const sampling = { ...settings.sampling, seed: settings.sampling.seed + sampleIndex };
        const captureKey = promptIds && captureKeyHash({ promptIds, sampling, effort, sampleIndex, recorded });
        const job: CaptureJob = { prompt, effort, sampleIndex, promptIds, sampling, captureKey, supersedes: null };
        const sameSlot = bySlot.get(slotKey(prompt.id, effort, sampleIndex)) ?? [];
        const holder = promptIds ? sameSlot.find((trace) => holdsCapture(trace, job)) : undefined;
        if (holder) skipped.push({ job, traceId: holder.id });
        else todo.push({ ...job, supersedes: sameSlot.at(-1)?.id ?? null });
      }
    }
  }
  return { todo, skipped };
}

export interface CaptureSettings {
  efforts: readonly ReasoningEffort[];
  samples: number;
  collection: string | null;
  capture: CaptureOptions;
  sampling: SamplingParams;
  includeLogits: boolean;
  /** Reasoning-filter rules new traces are filtered with (default: the active rules). */
  rules?: FilterRules;
}

export interface CaptureReport {
  planned: number;
  skipped: number;
  complete: number;
  failed: number;
  cancelled: boolean;
}

/** Progress line: done/total, tokens/s, ETA. Redrawn in place on a terminal, one line per trace otherwise. */
export class Progress {
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
  const completed = await store.traces.completedCaptures({
    modelName: runtime.name, configHash: runtime.configHash, collection: settings.collection, promptIds: prompts.map((prompt) => prompt.id),
  });
  const { todo, skipped } = planJobs(prompts, settings, completed);
  const report: CaptureReport = { planned: todo.length + skipped.length, skipped: skipped.length, complete: 0, failed: 0, cancelled: false };
  for (const { job, traceId } of skipped) stream.write(`skipped ${jobLabel(job)}: already complete as trace ${traceId}\n`);
  if (skipped.length > 0) stream.write(`skipping ${skipped.length} prompt x effort x sample already complete\n`);
  for (const job of todo.filter((planned) => planned.supersedes)) {
    stream.write(`${jobLabel(job)}: the rendered prompt or the settings differ from complete trace ${job.supersedes}: capturing anew\n`);
  }
  const progress = new Progress(todo.length, stream);
  const model = {
    name: runtime.name, configHash: runtime.configHash, numLayers: runtime.config.numLayers, numExperts: runtime.config.numExperts,
    expertsPerToken: runtime.config.expertsPerToken, numHeads: runtime.config.numHeads, hiddenSize: runtime.config.hiddenSize, vocabSize: runtime.config.vocabSize,
  };
  for (const [index, job] of todo.entries()) {
    if (signal.aborted) { report.cancelled = true; break; }
    const label = jobLabel(job);
    const { sampling } = job;
    const id = await store.traces.create({
      model, prompt: promptMessages(job.prompt), promptId: job.prompt.id, effort: job.effort, sampleIndex: job.sampleIndex,
      sampling, captureKey: job.captureKey, collection: settings.collection, tags: job.prompt.tags,
    });
    progress.traceStarted(label);
    const beat = setInterval(() => { store.traces.heartbeat(id).catch(() => undefined); }, HEARTBEAT_INTERVAL_MS);
    beat.unref();
    try {
      const result = await runtime.generate({
        promptIds: job.promptIds ?? renderPromptLine(job.prompt, job.effort), sampling, capture: settings.capture, signal,
        onToken: () => progress.addTokens(1),
      });
      clearInterval(beat);
      await store.traces.complete(id, result, { includeLogits: settings.includeLogits });
      // New captures are filtered when stored; a filter failure never fails the capture (the view filters on the fly).
      await filterStoredTrace(store, id, settings.rules ?? activeRules()).catch((error: unknown) => stream.write(`${label}: filter failed: ${(error as Error).message}\n`));
      if (result.stopReason === 'cancelled') { report.cancelled = true; progress.render(index, `${label}: cancelled`, true); break; }
      report.complete += 1;
      progress.render(index + 1, `${label}: complete, ${result.tokens.length - result.promptLength} tokens`);
    } catch (error) {
      clearInterval(beat);
      if (error instanceof TraceNotSavedError && error.storeUnavailable) {
        throw new Error(`${error.message}. Stopping the batch (${label}); the trace stays running until the next start marks it failed.`, { cause: error });
      }
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
    promptIds: job.promptIds ?? renderPromptLine(job.prompt, job.effort), effort: job.effort, sampleIndex: job.sampleIndex,
    sampling: { ...settings.sampling, seed: settings.sampling.seed + job.sampleIndex },
    capture: settings.capture, includeLogits: settings.includeLogits, tags: job.prompt.tags ?? [], captureKey: job.captureKey,
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
  const completed = await queue.store.traces.completedCaptures({
    modelName: name, configHash: hash, collection: settings.collection, promptIds: prompts.map((prompt) => prompt.id),
  });
  const { todo, skipped } = planJobs(prompts, settings, completed);
  const pending = new Set(await queue.pendingKeys(name, settings.collection));
  const fresh = todo.filter((job) => !pending.has(pendingJobKey(job.prompt.id, job.effort, job.sampleIndex)));
  await queue.enqueue(fresh.map((job) => captureJobData(name, job, settings)), { retryLimit: options.retryLimit });
  return { model: name, enqueued: fresh.length, skipped: skipped.length + todo.length - fresh.length };
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
      device: { type: 'string' },
      precision: { type: 'string' },
      'expert-inputs': { type: 'string' },
      enqueue: { type: 'boolean', default: false },
      'retry-limit': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  if (!values.model || !values.prompts) { console.error(`--model and --prompts are required\n\n${HELP}`); return 2; }
  const samples = integerOption(values.samples, '--samples', 1, { min: 1 });
  const seed = seedOption(values.seed);
  if (seed + samples - 1 > MAX_SEED) throw new OptionError(`--seed ${seed} with --samples ${samples}: sample seeds S..S+N-1 must stay <= ${MAX_SEED}`);
  const collectionProblem = values.collection === undefined ? null : unstorableTextReason(values.collection);
  if (collectionProblem) throw new OptionError(`--collection ${collectionProblem}`);
  const settings: CaptureSettings = {
    efforts: parseEfforts(values.effort!),
    samples,
    collection: values.collection ?? null,
    capture: parseCaptureList(values.capture!, attentionTopKOption(values['attention-top-k'])),
    includeLogits: !values['no-router-logits'],
    sampling: {
      maxNewTokens: maxNewTokensOption(values['max-new-tokens']),
      temperature: numberOption(values.temperature, '--temperature', 1),
      topP: numberOption(values['top-p'], '--top-p', 1),
      seed,
    },
  };
  const threads = threadsOption(values.threads);
  const device = deviceOption(values.device);
  const { prompts, problems } = parsePromptFile(readFileSync(values.prompts, 'utf8'));
  for (const problem of problems) console.error(`${values.prompts}:${problem.line}: skipped: ${problem.message}`);
  if (prompts.length === 0) { console.error(`${values.prompts}: no valid prompts`); return 1; }
  if (values.enqueue) {
    const retryLimit = integerOption(values['retry-limit'], '--retry-limit', DEFAULT_RETRY_LIMIT, { min: 0 });
    const report = await enqueueCapture(values.model, prompts, settings, { retryLimit });
    console.error(`enqueued ${report.enqueued} jobs for model ${report.model}` +
      `${report.skipped > 0 ? ` (${report.skipped} skipped: already complete or queued)` : ''}; run \`cotscope worker --model DIR\` to process them`);
    return 0;
  }

  const controller = new AbortController();
  const stopSignals = abortOnStopSignals(controller, {
    first: (signal) => `\n${signalLabel(signal)}: stopping after storing the trace in progress as cancelled (send it again to quit now)`,
    second: (signal) => `\nsecond ${signalLabel(signal)}: quitting now; the trace in progress will be marked failed on the next start`,
  });
  const store = await openStore();
  try {
    await requireCliRole(store, 'researcher');
    const runtime = await loadRuntime(values.model, { threads, device, precision: precisionOption(values.precision), expertInputs: expertInputsOption(values['expert-inputs']) });
    console.error(`device: ${runtime.device}`);
    try {
      const report = await runCapture(store, runtime, prompts, settings, controller.signal);
      console.error(`${report.complete} complete, ${report.failed} failed, ${report.skipped} skipped of ${report.planned}` +
        `${report.cancelled ? ' (cancelled: run the same command again to resume)' : ''} · store: ${store.backend.location}`);
      if (report.cancelled) return SIGNAL_EXIT_CODES[stopSignals.received() ?? 'SIGINT'];
      return report.failed > 0 ? 1 : 0;
    } finally {
      await runtime.close();
    }
  } finally {
    stopSignals.dispose();
    await store.close();
  }
}
