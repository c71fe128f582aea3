/**
 * The workbench's server side: the one place that talks to the store, the runtime and the
 * tokenizer, so a name change there is one edit here. Everything returned is already redacted
 * for the identity passed in: raw chain of thought never leaves this module for a viewer.
 */
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { TraceNotSavedError } from '../store';
import { closeProcessStore, processStore } from '../store/process';
import type { ModelIdentity, Store, StoredChunk, StoredTrace, TraceFilters } from '../store';
import { assembleCaptureSections, decodeChunk, DEFAULT_CHUNK_TOKENS, type AssembledCapture, type ChunkSection } from '../trace/codec';
import { LRUCache } from 'lru-cache';
import { HEARTBEAT_INTERVAL_MS } from '../store/owner';
import type { Backend } from '../store/backend';
import { loadRuntime } from '../runtime/runtime';
import type { Runtime } from '../runtime/types';
import { decodeToken, encode } from '../harmony/tokenizer';
import { renderConversation } from '../harmony/render';
import type { Conversation } from '../harmony/render';
import { canReadRawReasoning, hasRole } from '../auth/roles';
import type { Identity } from '../auth/roles';
import { actorOf, audit } from '../auth/audit';
import { redactMessages, redactTokenTexts, withheldTokenMask } from '../auth/redact';
import { policyFilter, type FilteredReasoning } from '../review/filter';
import { activeRules } from '../review/rules';
import { filterTraceData, loadFilterOutput } from '../review/store';
import type {
  AttentionSeries, ModelInfo, RunEvent, TokenDetail, TraceHeader, TraceListPage, TraceListQuery, TraceRow, TraceViewData,
} from './contracts';
import { buildHeatmapData, encodeHeatmap } from './heatmap-payload';
import { routerEntropy, softmax } from './routing-stats';
import { NotFoundError, RequestRefusedError } from './route';
import type { RunRequest } from './queries';
import { closeAppJobs, queueEnabled, queuedLiveRun } from '../jobs/app';
import { runAttempt, tokenTexts } from '../jobs/execute';
import type { CaptureJobData } from '../jobs/types';

/** Model folder served by the app (COTSCOPE_MODEL_DIR, default models/tiny). */
export function modelDir(): string {
  return path.resolve(/*turbopackIgnore: true*/ process.env.COTSCOPE_MODEL_DIR || 'models/tiny');
}

interface WorkbenchState {
  runtime?: Promise<Runtime>;
  /** Loaded trace parts by id and sections (LRU bounded in bytes; running traces are never kept). Concurrent loads of one key share one read. */
  traces: LRUCache<string, StoredTrace>;
  /** Verified, undecoded chunks around a token for the token inspector, which decodes one row per request. */
  chunks: LRUCache<string, StoredChunk[], number>;
  /** Values derived from a cached trace (token texts, heatmap bytes), dropped with it. */
  derived: WeakMap<StoredTrace, { texts?: string[]; heatmap?: Uint8Array }>;
  /** Serialises live runs: one runtime, one generation at a time. */
  runQueue: Promise<unknown>;
  /** Runs queued behind the current one, and whether one is generating. */
  waitingRuns: number;
  activeRun: boolean;
}

// Next may load this module once per route bundle; the state lives on globalThis so all share it.
const globalState = globalThis as typeof globalThis & { __cotscopeWorkbench?: WorkbenchState };
const state: WorkbenchState = (globalState.__cotscopeWorkbench ??= {
  traces: loadCache<StoredTrace>((key) => {
    const [id, sections] = key.split(':');
    return store().then((opened) => opened.traces.get(id, { includeRawCot: true, sections: sections.split(',') as ChunkSection[] }));
  }, captureBytes, (trace) => trace.status === 'running'),
  chunks: loadCache<StoredChunk[], number>((key, index) => {
    const id = key.split(':')[0];
    return store().then((opened) => opened.traces.chunksAt(id, index, ['routing', 'logits', 'attention']));
  }, (chunks) => chunks.reduce((sum, chunk) => sum + chunk.bytes.byteLength, 0), () => false),
  derived: new WeakMap(), runQueue: Promise.resolve(), waitingRuns: 0, activeRun: false,
});

/** Bytes of the trace cache (COTSCOPE_TRACE_CACHE_MB, default 256 MB): what the server may hold of loaded traces. */
function traceCacheBytes(): number {
  const megabytes = Number(process.env.COTSCOPE_TRACE_CACHE_MB);
  return (Number.isFinite(megabytes) && megabytes > 0 ? megabytes : 256) * 1024 * 1024;
}

/** Approximate memory of a loaded trace: its capture's typed arrays plus token ids. */
function captureBytes(trace: StoredTrace): number {
  const { routing, attention } = trace;
  const arrays = [routing?.experts, routing?.weights, routing?.logits, attention?.sinkMass, attention?.topPositions, attention?.topWeights];
  return trace.tokens.length * 16 + arrays.reduce((sum, array) => sum + (array?.byteLength ?? 0), 0);
}

/**
 * An LRU of loaded values, bounded in bytes, whose `fetch` shares one load among concurrent callers
 * of the same key; `transient` values (a running trace) are served but not kept.
 */
function loadCache<V extends {}, Context = unknown>(
  load: (key: string, context: Context) => Promise<V | null>, bytesOf: (value: V) => number, transient: (value: V) => boolean,
): LRUCache<string, V, Context> {
  const cache: LRUCache<string, V, Context> = new LRUCache<string, V, Context>({
    maxSize: traceCacheBytes(),
    sizeCalculation: (value) => Math.max(1, bytesOf(value)),
    // A load evicted by others while in flight still answers the requests that waited for it.
    ignoreFetchAbort: true,
    allowStaleOnFetchAbort: true,
    fetchMethod: async (key, _stale, { context }) => {
      const value = await load(key, context);
      if (!value) throw new NotFoundError(`trace ${key.split(':')[0]} does not exist`);
      if (transient(value)) queueMicrotask(() => cache.delete(key));
      return value;
    },
  });
  return cache;
}

/** The trace store (DATABASE_URL or embedded PGlite), opened and migrated once per process. */
export function store(): Promise<Store> {
  return processStore();
}

/** The store's database, for the review and curation libraries (lib/review). */
export async function backend(): Promise<Backend> {
  return (await processStore()).backend;
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

/** Sections each view needs: the page itself needs token ids only; the heatmap needs routing and router logits. */
const VIEW_SECTIONS: ChunkSection[] = ['tokens'];
const HEATMAP_SECTIONS: ChunkSection[] = ['routing', 'logits'];
const ATTENTION_SECTIONS: ChunkSection[] = ['attention'];

async function loadTrace(id: string, sections: ChunkSection[]): Promise<StoredTrace> {
  return (await state.traces.fetch(`${id}:${sections.join(',')}`))!;
}

/** Token `index`'s rows of routing, router logits and attention; concurrent requests for tokens of one chunk share a read. */
async function tokenRows(id: string, index: number): Promise<Pick<AssembledCapture, 'routing' | 'attention'>> {
  const chunkKey = `${id}:${Math.floor(index / DEFAULT_CHUNK_TOKENS)}`;
  let chunks = await state.chunks.fetch(chunkKey, { context: index });
  if (chunks?.some((chunk) => !(chunk.tokenStart <= index && index < chunk.tokenEnd))) chunks = await state.chunks.fetch(`${id}:@${index}`, { context: index });
  const rows = chunks!.map((chunk) => ({
    ...decodeChunk(chunk.bytes, { traceId: id, section: chunk.section }, { verified: true, rows: { start: index - chunk.tokenStart, end: index - chunk.tokenStart + 1 } }),
    tokenStart: 0,
    tokenEnd: 1,
  }));
  return assembleCaptureSections(rows, 1);
}

/** An annotator (not researcher) is a blind reader: blind mode limits what the list shows them. */
function blindReader(identity: Identity): string | undefined {
  return hasRole(identity, 'annotator') && !hasRole(identity, 'researcher') ? identity.name : undefined;
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
    hasAnnotations: query.hasAnnotations,
    label: query.label,
    verdict: query.verdict,
    annotator: query.annotator,
  };
  const page = await (await store()).traces.list(filters, {
    sort: query.sort,
    direction: query.direction,
    cursor: query.cursor ?? null,
    limit: query.limit,
    // A viewer's search must not reveal which traces contain a word of their raw reasoning.
    includeRawCot: canReadRawReasoning(identity),
    blindReader: blindReader(identity),
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
    ...item.review,
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

/** Capture dimensions from what the trace records, without loading the capture itself. */
function captureShape(trace: StoredTrace): Pick<TraceViewData, 'routing' | 'attention'> {
  const { model, capture } = trace.metadata;
  const numTokens = trace.tokens.length;
  const hasAttention = capture.sections.includes('attention') && capture.attentionTopK !== null;
  return {
    routing: capture.sections.includes('routing') ? { numTokens, numLayers: model.numLayers, numExperts: model.numExperts, topK: model.expertsPerToken } : null,
    attention: hasAttention ? { numTokens, numLayers: model.numLayers, numHeads: model.numHeads, topK: capture.attentionTopK! } : null,
  };
}

/** The active filter's stored output for a trace, or (not stored yet) computed for this response. */
async function filteredReasoning(trace: StoredTrace): Promise<FilteredReasoning> {
  const rules = activeRules();
  const stored = await loadFilterOutput((await store()).backend, trace.id, policyFilter(rules).identity);
  return stored ?? { ...filterTraceData(trace, rules), stored: false, summary: null };
}

export async function traceView(id: string, identity: Identity): Promise<TraceViewData> {
  const trace = await loadTrace(id, VIEW_SECTIONS);
  return {
    header: traceHeader(trace),
    identity,
    tokenTexts: redactTokenTexts(cachedTokenTexts(trace), trace.messages, identity, trace.promptLength),
    messages: redactMessages(trace.messages, identity, trace.promptLength),
    filtered: await filteredReasoning(trace),
    ...captureShape(trace),
  };
}

/** A script (API token) that reads raw reasoning leaves an audit record; browsing sessions do not. */
export async function auditRawRead(identity: Identity, traceId: string, via: string): Promise<void> {
  if (!identity.tokenId || !canReadRawReasoning(identity)) return;
  await audit((await store()).backend, { actor: actorOf(identity), action: 'raw.read', target: traceId, detail: { via } });
}

/** Drops a trace's loaded parts from the caches (after a soft delete, so no cached copy outlives it). */
export function forgetTrace(id: string): void {
  for (const cache of [state.traces, state.chunks] as LRUCache<string, object, unknown>[]) {
    for (const key of [...cache.keys()]) if (key.startsWith(`${id}:`)) cache.delete(key);
  }
}

export async function heatmapBytes(id: string): Promise<Uint8Array> {
  const trace = await loadTrace(id, HEATMAP_SECTIONS);
  const { routing } = trace;
  if (!routing) throw new NotFoundError(`trace ${id} has no routing capture`);
  const entry = derived(trace);
  return (entry.heatmap ??= encodeHeatmap(buildHeatmapData(routing, routing.experts, routing.weights, routerEntropy(routing.logits, routing))));
}

export async function tokenDetail(id: string, index: number, layer: number, identity: Identity): Promise<TokenDetail> {
  const trace = await loadTrace(id, VIEW_SECTIONS);
  if (index >= trace.tokens.length) throw new NotFoundError(`trace ${id} has ${trace.tokens.length} tokens; token ${index} does not exist`);
  const withheld = withheldTokenMask(trace.messages, trace.tokens.length, identity, trace.promptLength)[index] === 1;
  const rawReasoning = withheldTokenMask(trace.messages, trace.tokens.length, { ...identity, role: 'viewer' }, trace.promptLength)[index] === 1;
  if (rawReasoning && !withheld) await auditRawRead(identity, id, 'GET /api/traces/:id/tokens/:index');
  const captured = trace.metadata.capture.sections.some((section) => section === 'routing' || section === 'attention');
  // One-token capture (row 0 of each array) from the chunks holding the token.
  const { routing, attention } = captured ? await tokenRows(id, index) : { routing: null, attention: null };
  const layers = routing?.numLayers ?? 0;
  const routingRows = Array.from({ length: layers }, (_, l) => {
    const r = routing!;
    const slot = l * r.topK;
    const logits = r.logits.subarray(l * r.numExperts, (l + 1) * r.numExperts);
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
    const base = (attentionLayer * a.numHeads + h) * a.topK;
    const top = Array.from({ length: a.topK }, (_, k) => ({ position: a.topPositions[base + k], weight: a.topWeights[base + k] })).filter((entry) => entry.position >= 0);
    return { head: h, sinkMass: a.sinkMass[attentionLayer * a.numHeads + h], top };
  });
  const sinkMass = attention
    ? Array.from({ length: attention.numLayers }, (_, l) => Array.from(attention.sinkMass.subarray(l * attention.numHeads, (l + 1) * attention.numHeads)))
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
  const { attention } = await loadTrace(id, ATTENTION_SECTIONS);
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

/** Live runs waiting behind the one in progress before new ones are refused (COTSCOPE_MAX_QUEUED_RUNS). */
export function maxQueuedRuns(): number {
  const configured = Number(process.env.COTSCOPE_MAX_QUEUED_RUNS);
  return Number.isInteger(configured) && configured >= 0 ? configured : 4;
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
    capture: { routing: true, attention: true }, includeLogits: true, tags: request.tags ?? [], captureKey: null,
  };
}

/**
 * Generates, streaming each token to `send`, and saves the trace through the store (a cancelled run
 * is saved with what it produced). Returns the trace id, or null when the caller went away while
 * the run was still queued (nothing is stored for it). With PostgreSQL the run goes through the
 * capture queue (lib/jobs) and any worker may run it; with PGlite it runs here. Runs one at a time; when the queue is full
 * the run is refused at once (throws RequestRefusedError, 503) instead of waiting without bound.
 */
export function liveRun(request: CaptureRequest, identity: Identity, send: (event: RunEvent) => void, signal?: AbortSignal): Promise<string | null> {
  if (queueEnabled()) return store().then((opened) => queuedLiveRun(opened, modelDir(), liveJobData(request, path.basename(modelDir())), send, signal));
  const inSystem = state.waitingRuns + (state.activeRun ? 1 : 0);
  if (inSystem >= maxQueuedRuns() + 1) {
    throw new RequestRefusedError(`the runtime is busy with ${inSystem} live runs (one generating, the rest waiting): try again when one has finished`, 503);
  }
  state.waitingRuns += 1;
  const run = state.runQueue.then(async () => {
    state.waitingRuns -= 1;
    if (signal?.aborted) return null;
    state.activeRun = true;
    try {
      return await generateAndStore(request, send, signal);
    } finally {
      state.activeRun = false;
    }
  });
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
  const model = state.runtime;
  state.runtime = undefined;
  state.traces.clear();
  state.chunks.clear();
  await closeAppJobs();
  await Promise.allSettled([model?.then((m) => m.close()), closeProcessStore()]);
}
