/**
 * The trace store: open it once, use its repositories, close it.
 *   const store = await openStore();            // DATABASE_URL -> PostgreSQL, else PGlite in ./data
 *   const id = await store.traces.create({...}); // visible as `running`
 *   await store.traces.complete(id, result);     // blobs + messages + summary + status, one transaction
 *   const trace = await store.traces.get(id, { includeRawCot: false });
 */
import { openBackend, retryOnConnectionLoss, type Backend, type BackendOptions } from './backend';
import { addTracesToCollection, listCollections, listTags, removeTraceFromCollection, tagTrace, untagTrace, type LabelCount } from './labels';
import { migrate } from './migrate';
import { listTraces, searchMessages, type SearchOptions } from './query';
import { keepUnsavedRun, TraceNotSavedError } from './unsaved';
import { completeTrace, createTrace, failTrace, TraceStateError, getChunksAt, getTrace, heartbeat, recoverStale, type StoredChunk } from './traces';
import type { CompleteOptions, GetOptions, ListOptions, NewTrace, PromptMessage, SearchHit, StoredTrace, TraceFilters, TracePage } from './types';
import type { RunResult, SamplingParams } from '../trace/types';
import type { ChunkSection } from '../trace/codec';
import { expertRows, type ExpertUsageRow } from '../trace/summary';

export * from './types';
export { CorruptBlobError } from '../trace/codec';
export { TraceStateError, type StoredChunk } from './traces';
export { MigrationError } from './migrate';
export { BadCursorError, BadQueryError } from './query';
export { defaultDataDir, StoreUnavailableError, type BackendKind } from './backend';
export { TraceNotSavedError } from './unsaved';
export { StoreLockedError } from './folder-lock';

export interface StoreOptions extends BackendOptions {
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Mark running traces whose owner is gone as failed on open (default true). */
  recoverStale?: boolean;
}

/** Which completed batch captures to look up, for resumable batch capture. */
export interface CompletedCaptureQuery {
  modelName: string;
  configHash: string;
  collection?: string | null;
  promptIds: string[];
}

/** A complete trace a batch capture may resume past. */
export interface CompletedCapture {
  id: string;
  promptId: string;
  effort: string | null;
  sampleIndex: number;
  /** Null for traces stored before capture keys (their prompt and sampling are compared instead). */
  captureKey: string | null;
  prompt: PromptMessage[];
  sampling: SamplingParams;
}

export interface Store {
  readonly backend: Backend;
  traces: {
    create(input: NewTrace): Promise<string>;
    /** False when the trace is no longer running. */
    heartbeat(id: string): Promise<boolean>;
    complete(id: string, result: RunResult, options?: CompleteOptions): Promise<void>;
    fail(id: string, error: string, status?: 'failed' | 'cancelled'): Promise<boolean>;
    get(id: string, options: GetOptions): Promise<StoredTrace | null>;
    /** The verified, undecoded chunks of `sections` holding token `index` (null when the trace does not exist). */
    chunksAt(id: string, index: number, sections: ChunkSection[]): Promise<StoredChunk[] | null>;
    list(filters?: TraceFilters, options?: ListOptions): Promise<TracePage>;
    usage(id: string): Promise<ExpertUsageRow[]>;
    completedCaptures(query: CompletedCaptureQuery): Promise<CompletedCapture[]>;
    recoverStale(staleAfterMs?: number): Promise<string[]>;
    remove(id: string): Promise<void>;
  };
  collections: {
    add(name: string, traceIds: string[]): Promise<void>;
    remove(name: string, traceId: string): Promise<void>;
    list(): Promise<LabelCount[]>;
  };
  tags: {
    add(traceId: string, names: string[]): Promise<void>;
    remove(traceId: string, name: string): Promise<void>;
    list(): Promise<LabelCount[]>;
  };
  search(text: string, options: SearchOptions): Promise<SearchHit[]>;
  close(): Promise<void>;
}

const MAX_PROMPT_ID_FILTER = 10_000;

/** Opens, migrates and recovers; a connection lost on the way opens again (every step is idempotent). */
async function openReadyBackend(options: StoreOptions): Promise<Backend> {
  return retryOnConnectionLoss(async () => {
    const backend = await openBackend(options);
    try {
      if (options.migrate !== false) await migrate(backend.direct);
      if (options.recoverStale !== false) await recoverStale(backend);
      return backend;
    } catch (error) {
      await backend.close().catch(() => undefined);
      throw error;
    }
  });
}

export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const backend = await openReadyBackend(options);
  return {
    backend,
    traces: {
      create: (input) => createTrace(backend, input),
      heartbeat: (id) => heartbeat(backend, id),
      complete: async (id, result, completeOptions) => {
        try {
          await completeTrace(backend, id, result, completeOptions);
        } catch (error) {
          if (error instanceof TraceStateError) throw error;
          throw new TraceNotSavedError(id, keepUnsavedRun(id, result, options.dataDir), error);
        }
      },
      fail: (id, error, status) => failTrace(backend, id, error, status),
      get: (id, getOptions) => getTrace(backend, id, getOptions),
      chunksAt: (id, index, sections) => getChunksAt(backend, id, index, sections),
      list: (filters, listOptions) => listTraces(backend, filters, listOptions),
      usage: async (id) => {
        const rows = await backend.prisma.expertUsage.findMany({ where: { traceId: id }, orderBy: [{ channel: 'asc' }, { layer: 'asc' }] });
        return expertRows(rows);
      },
      completedCaptures: async ({ modelName, configHash, collection, promptIds }) => {
        const rows = await retryOnConnectionLoss(() => backend.prisma.trace.findMany({
          where: {
            status: 'complete',
            // PostgreSQL binds at most 65,535 parameters: a huge batch reads every batch trace of the model instead.
            promptId: promptIds.length <= MAX_PROMPT_ID_FILTER ? { in: promptIds } : { not: null },
            model: { name: modelName, configHash },
            ...(collection ? { collections: { some: { collection: { name: collection } } } } : {}),
          },
          select: { id: true, promptId: true, effort: true, sampleIndex: true, captureKey: true, prompt: true, temperature: true, topP: true, seed: true, maxNewTokens: true },
          orderBy: { createdAt: 'asc' },
        }), { location: backend.location });
        return rows.map(({ temperature, topP, seed, maxNewTokens, prompt, promptId, ...row }) => ({
          ...row, promptId: promptId ?? '', prompt: prompt as unknown as PromptMessage[], sampling: { temperature, topP, seed: Number(seed), maxNewTokens },
        }));
      },
      recoverStale: (staleAfterMs) => recoverStale(backend, staleAfterMs),
      remove: async (id) => { await backend.prisma.trace.delete({ where: { id } }); },
    },
    collections: {
      add: (name, traceIds) => addTracesToCollection(backend, name, traceIds),
      remove: (name, traceId) => removeTraceFromCollection(backend, name, traceId),
      list: () => listCollections(backend),
    },
    tags: {
      add: (traceId, names) => tagTrace(backend, traceId, names),
      remove: (traceId, name) => untagTrace(backend, traceId, name),
      list: () => listTags(backend),
    },
    search: (text, searchOptions) => searchMessages(backend, text, searchOptions),
    close: () => backend.close(),
  };
}
