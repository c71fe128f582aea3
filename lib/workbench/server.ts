/**
 * The workbench's server side: the one place that talks to the store, the runtime and the
 * tokenizer, so a name change there is one edit here. Everything returned is already redacted
 * for the identity passed in: raw chain of thought never leaves this module for a viewer.
 */
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { openStore } from '../store';
import type { Store, StoredTrace, TraceFilters } from '../store';
import { HEARTBEAT_INTERVAL_MS } from '../store/owner';
import { loadRuntime } from '../runtime/runtime';
import type { Runtime } from '../runtime/types';
import { decodeToken, encode } from '../harmony/tokenizer';
import { renderConversation } from '../harmony/render';
import type { Conversation } from '../harmony/render';
import { canReadRawReasoning } from '../auth/roles';
import type { Identity } from '../auth/roles';
import { redactMessages, redactTokenTexts, withheldTokenMask } from '../auth/redact';
import { activeReasoningFilter } from '../review/filter';
import type {
  AttentionSeries, ModelInfo, RunEvent, TokenDetail, TraceHeader, TraceListPage, TraceListQuery, TraceRow, TraceViewData,
} from './contracts';
import { buildHeatmapData, encodeHeatmap } from './heatmap-payload';
import { routerEntropy, softmax } from './routing-stats';
import { NotFoundError } from './route';
import type { RunRequest } from './queries';
import { closeAppJobs, queueEnabled, queuedLiveRun } from '../jobs/app';
import { runAttempt, tokenTexts } from '../jobs/execute';
import type { CaptureJobData } from '../jobs/types';

/** Model folder served by the app (COTSCOPE_MODEL_DIR, default models/tiny). */
export function modelDir(): string {
  return path.resolve(process.env.COTSCOPE_MODEL_DIR || 'models/tiny');
}

interface WorkbenchState {
  store?: Promise<Store>;
  runtime?: Promise<Runtime>;
  /** Fully loaded traces by id (small LRU; running traces are never cached). */
  traces: Map<string, StoredTrace>;
  /** Values derived from a cached trace (token texts, heatmap bytes), dropped with it. */
  derived: WeakMap<StoredTrace, { texts?: string[]; heatmap?: Uint8Array }>;
  /** Serialises live runs: one runtime, one generation at a time. */
  runQueue: Promise<unknown>;
}

// Next may load this module once per route bundle; the state lives on globalThis so all share it.
const globalState = globalThis as typeof globalThis & { __cotscopeWorkbench?: WorkbenchState };
const state: WorkbenchState = (globalState.__cotscopeWorkbench ??= { traces: new Map(), derived: new WeakMap(), runQueue: Promise.resolve() });
state.derived ??= new WeakMap();
const CACHED_TRACES = 3;

/** The trace store (DATABASE_URL or embedded PGlite), opened and migrated once per process. */
export function store(): Promise<Store> {
  state.store ??= openStore().catch((error) => {
    state.store = undefined;
    throw error;
  });
  return state.store;
}

export function runtime(): Promise<Runtime> {
  state.runtime ??= loadRuntime(modelDir()).catch((error) => {
    state.runtime = undefined;
    throw error;
  });
  return state.runtime;
}

export async function modelInfo(): Promise<ModelInfo> {
  const dir = modelDir();
  const configFile = path.join(dir, 'config.json');
  if (!existsSync(configFile)) throw new Error(`no model at ${dir} (config.json missing): run npm start or npm run model:tiny`);
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, number>;
  const markerFile = path.join(dir, 'cotscope.json');
  const marker = existsSync(markerFile) ? (JSON.parse(readFileSync(markerFile, 'utf8')) as { preset?: string }) : null;
  return {
    name: path.basename(dir),
    dir,
    generated: marker !== null,
    preset: marker?.preset ?? null,
    numLayers: config.num_hidden_layers,
    numExperts: config.num_local_experts ?? config.num_experts,
  };
}

// ---- traces -------------------------------------------------------------------------------

async function loadTrace(id: string): Promise<StoredTrace> {
  const cached = state.traces.get(id);
  if (cached) return cached;
  const trace = await (await store()).traces.get(id, { includeRawCot: true });
  if (!trace) throw new NotFoundError(`trace ${id} does not exist`);
  if (trace.status !== 'running') {
    state.traces.set(id, trace);
    if (state.traces.size > CACHED_TRACES) state.traces.delete(state.traces.keys().next().value as string);
  }
  return trace;
}

export async function listTraces(query: TraceListQuery, identity: Identity): Promise<TraceListPage> {
  const filters: TraceFilters = {
    model: query.model,
    collection: query.collection,
    effort: query.effort,
    status: query.status,
    tag: query.tag,
    createdFrom: query.from ? new Date(query.from) : undefined,
    createdTo: query.to ? new Date(query.to) : undefined,
    text: query.search,
  };
  const page = await (await store()).traces.list(filters, {
    sort: query.sort,
    direction: query.direction,
    cursor: query.cursor ?? null,
    limit: query.limit,
    // A viewer's search must not reveal which traces contain a word of their raw reasoning.
    includeRawCot: canReadRawReasoning(identity),
  });
  const rows: TraceRow[] = page.items.map((item) => ({
    id: item.id,
    model: item.model,
    effort: item.effort,
    status: item.status,
    createdAt: item.createdAt,
    promptTokens: item.promptTokens,
    tokenCount: item.tokenCount,
    decodeTokensPerSecond: item.decodeTokensPerSecond,
    preview: item.finalPreview ?? '',
    tags: item.tags,
    collections: item.collections,
  }));
  return { rows, total: 'total' in page && typeof page.total === 'number' ? page.total : null, nextCursor: page.nextCursor };
}

function traceHeader(trace: StoredTrace): TraceHeader {
  const generated = trace.tokens.length - trace.promptLength;
  return {
    id: trace.id,
    model: trace.model.name,
    configHash: trace.model.configHash,
    effort: trace.metadata.effort,
    status: trace.status,
    stopReason: trace.status === 'running' ? null : trace.stopReason,
    temperature: trace.sampling.temperature,
    topP: trace.sampling.topP,
    seed: String(trace.sampling.seed),
    maxNewTokens: trace.sampling.maxNewTokens,
    promptTokens: trace.promptLength,
    tokenCount: trace.tokens.length,
    prefillMs: trace.timings.prefillMs,
    decodeMs: trace.timings.decodeMs,
    prefillTokensPerSecond: trace.timings.prefillTokensPerSecond,
    decodeTokensPerSecond: generated > 0 ? trace.timings.decodeTokensPerSecond : null,
    createdAt: trace.metadata.createdAt,
  };
}

function derived(trace: StoredTrace): { texts?: string[]; heatmap?: Uint8Array } {
  let entry = state.derived.get(trace);
  if (!entry) state.derived.set(trace, (entry = {}));
  return entry;
}

function cachedTokenTexts(trace: StoredTrace): string[] {
  const entry = derived(trace);
  return (entry.texts ??= tokenTexts(trace.tokens));
}

export async function traceView(id: string, identity: Identity): Promise<TraceViewData> {
  const trace = await loadTrace(id);
  const { routing, attention } = trace;
  return {
    header: traceHeader(trace),
    identity,
    tokenTexts: redactTokenTexts(cachedTokenTexts(trace), trace.messages, identity),
    messages: redactMessages(trace.messages, identity),
    filtered: activeReasoningFilter().filter(trace.messages),
    routing: routing && { numTokens: routing.numTokens, numLayers: routing.numLayers, numExperts: routing.numExperts, topK: routing.topK },
    attention: attention && { numTokens: attention.numTokens, numLayers: attention.numLayers, numHeads: attention.numHeads, topK: attention.topK },
  };
}

export async function heatmapBytes(id: string): Promise<Uint8Array> {
  const trace = await loadTrace(id);
  const { routing } = trace;
  if (!routing) throw new NotFoundError(`trace ${id} has no routing capture`);
  const entry = derived(trace);
  return (entry.heatmap ??= encodeHeatmap(buildHeatmapData(routing, routing.experts, routing.weights, routerEntropy(routing.logits, routing))));
}

export async function tokenDetail(id: string, index: number, layer: number, identity: Identity): Promise<TokenDetail> {
  const trace = await loadTrace(id);
  if (index >= trace.tokens.length) throw new NotFoundError(`trace ${id} has ${trace.tokens.length} tokens; token ${index} does not exist`);
  const withheld = withheldTokenMask(trace.messages, trace.tokens.length, identity)[index] === 1;
  const { routing, attention } = trace;
  const layers = routing?.numLayers ?? 0;
  const routingRows = Array.from({ length: layers }, (_, l) => {
    const r = routing!;
    const slot = (index * r.numLayers + l) * r.topK;
    const logits = r.logits.subarray((index * r.numLayers + l) * r.numExperts, (index * r.numLayers + l + 1) * r.numExperts);
    const probabilities = softmax(logits);
    const entropy = -probabilities.reduce((sum, p) => sum + (p > 0 ? p * Math.log(p) : 0), 0);
    return {
      layer: l,
      experts: Array.from({ length: r.topK }, (_, k) => ({ expert: r.experts[slot + k], weight: r.weights[slot + k] })),
      probabilities,
      entropy,
    };
  });
  const heads = attention?.numHeads ?? 0;
  const attentionLayer = Math.min(layer, Math.max(0, (attention?.numLayers ?? 1) - 1));
  const headRows = Array.from({ length: heads }, (_, h) => {
    const a = attention!;
    const base = ((index * a.numLayers + attentionLayer) * a.numHeads + h) * a.topK;
    const top = Array.from({ length: a.topK }, (_, k) => ({ position: a.topPositions[base + k], weight: a.topWeights[base + k] })).filter((entry) => entry.position >= 0);
    return { head: h, sinkMass: a.sinkMass[(index * a.numLayers + attentionLayer) * a.numHeads + h], top };
  });
  const sinkMass = attention
    ? Array.from({ length: attention.numLayers }, (_, l) => Array.from(attention.sinkMass.subarray((index * attention.numLayers + l) * attention.numHeads, (index * attention.numLayers + l + 1) * attention.numHeads)))
    : [];
  const token = trace.tokens[index];
  return {
    index,
    token: withheld ? -1 : token,
    text: withheld ? '' : token >= 0 ? decodeToken(token) : '',
    withheld,
    routing: routingRows,
    attentionLayer,
    attention: headRows,
    sinkMass,
  };
}

export async function attentionSeries(id: string, layer: number, head: number): Promise<AttentionSeries> {
  const { attention } = await loadTrace(id);
  if (!attention) throw new NotFoundError(`trace ${id} has no attention capture`);
  if (layer >= attention.numLayers || head >= attention.numHeads) {
    throw new NotFoundError(`layer ${layer} head ${head} is outside the capture (${attention.numLayers} layers, ${attention.numHeads} heads)`);
  }
  const { numTokens, numLayers, numHeads, topK } = attention;
  const row = (t: number) => (t * numLayers + layer) * numHeads + head;
  const round = (value: number) => Math.round(value * 1e4) / 1e4;
  return {
    layer,
    head,
    numTokens,
    topK,
    sinkMass: Array.from({ length: numTokens }, (_, t) => round(attention.sinkMass[row(t)])),
    topPositions: Array.from({ length: numTokens }, (_, t) => Array.from(attention.topPositions.subarray(row(t) * topK, (row(t) + 1) * topK))),
    topWeights: Array.from({ length: numTokens }, (_, t) => Array.from(attention.topWeights.subarray(row(t) * topK, (row(t) + 1) * topK), round)),
  };
}

// ---- live runs ----------------------------------------------------------------------------

export function conversationOf(request: RunRequest): Conversation {
  return {
    system: { reasoningEffort: request.effort, ...(request.system ? { modelIdentity: request.system } : {}) },
    developer: request.developer ? { instructions: request.developer } : null,
    messages: [{ role: 'user', content: request.prompt }],
  };
}

/** Rendered prompt; optionally opened into the analysis channel (what gpt-oss itself writes first). */
export function promptIdsOf(request: RunRequest): number[] {
  const ids = renderConversation(conversationOf(request));
  if (request.startInAnalysis) ids.push(...encode('<|channel|>analysis<|message|>', { allowSpecial: true }));
  return ids;
}

export interface CaptureRequest extends RunRequest {
  collection?: string | null;
  tags?: string[];
}

/** A live run as a capture job: routing and attention captured, in collection `live` unless given. */
export function liveJobData(request: CaptureRequest, model: string): CaptureJobData {
  return {
    kind: 'live', model, collection: request.collection === undefined ? 'live' : request.collection, promptId: null,
    prompt: [
      ...(request.system ? [{ role: 'system', content: request.system }] : []),
      ...(request.developer ? [{ role: 'developer', content: request.developer }] : []),
      { role: 'user', content: request.prompt },
    ],
    promptIds: promptIdsOf(request), effort: request.effort, sampleIndex: 0,
    sampling: { temperature: request.temperature, topP: request.topP, seed: request.seed, maxNewTokens: request.maxNewTokens },
    capture: { routing: true, attention: true }, includeLogits: true, tags: request.tags ?? [],
  };
}

/**
 * Generates, streaming each token to `send`, and saves the trace through the store (a cancelled run
 * is saved with what it produced). Returns the trace id. With PostgreSQL the run goes through the
 * capture queue (lib/jobs) and any worker may run it; with PGlite it runs here, one at a time.
 */
export function liveRun(request: CaptureRequest, identity: Identity, send: (event: RunEvent) => void, signal?: AbortSignal): Promise<string> {
  void identity; // the route already required the researcher role; the identity is not stored yet
  if (queueEnabled()) return store().then((opened) => queuedLiveRun(opened, modelDir(), liveJobData(request, path.basename(modelDir())), send, signal));
  const run = state.runQueue.then(() => generateAndStore(request, send, signal));
  state.runQueue = run.catch(() => undefined);
  return run;
}

async function generateAndStore(request: CaptureRequest, send: (event: RunEvent) => void, signal?: AbortSignal): Promise<string> {
  const [opened, model] = await Promise.all([store(), runtime()]);
  const { traceId } = await runAttempt(opened, model, liveJobData(request, model.name), { signal, send, heartbeatMs: HEARTBEAT_INTERVAL_MS });
  return traceId;
}

/** Closes the runtime and the database (scripts and tests). */
export async function closeWorkbench(): Promise<void> {
  const [opened, model] = [state.store, state.runtime];
  state.store = undefined;
  state.runtime = undefined;
  state.traces.clear();
  await closeAppJobs();
  await Promise.allSettled([model?.then((m) => m.close()), opened?.then((s) => s.close())]);
}
