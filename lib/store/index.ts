/**
 * The trace store: open it once, use its repositories, close it.
 *   const store = await openStore();            // DATABASE_URL -> PostgreSQL, else PGlite in ./data
 *   const id = await store.traces.create({...}); // visible as `running`
 *   await store.traces.complete(id, result);     // blobs + messages + summary + status, one transaction
 *   const trace = await store.traces.get(id, { includeRawCot: false });
 */
import { openBackend, type Backend, type BackendOptions } from './backend';
import { addTracesToCollection, listCollections, listTags, removeTraceFromCollection, tagTrace, untagTrace, type LabelCount } from './labels';
import { migrate } from './migrate';
import { listTraces, searchMessages, type SearchOptions } from './query';
import { completeTrace, createTrace, failTrace, getTrace, heartbeat, recoverStale } from './traces';
import type { CompleteOptions, GetOptions, ListOptions, NewTrace, SearchHit, StoredTrace, TraceFilters, TracePage } from './types';
import type { RunResult } from '../trace/types';
import { expertRows, type ExpertUsageRow } from '../trace/summary';

export * from './types';
export { CorruptBlobError } from '../trace/codec';
export { TraceStateError } from './traces';
export { MigrationError } from './migrate';
export { BadCursorError } from './query';
export { defaultDataDir, type BackendKind } from './backend';

export interface StoreOptions extends BackendOptions {
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Mark running traces whose owner is gone as failed on open (default true). */
  recoverStale?: boolean;
}

/** Completed traces' (promptId, effort, sampleIndex) keys, for resumable batch capture. */
export interface CaptureKeyQuery {
  modelName: string;
  configHash: string;
  collection?: string | null;
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
    list(filters?: TraceFilters, options?: ListOptions): Promise<TracePage>;
    usage(id: string): Promise<ExpertUsageRow[]>;
    completedKeys(query: CaptureKeyQuery): Promise<Set<string>>;
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

export function captureKey(promptId: string | null, effort: string | null, sampleIndex: number): string {
  return JSON.stringify([promptId, effort, sampleIndex]);
}

export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const backend = await openBackend(options);
  try {
    if (options.migrate !== false) await migrate(backend.direct);
    if (options.recoverStale !== false) await recoverStale(backend);
  } catch (error) {
    await backend.close();
    throw error;
  }
  return {
    backend,
    traces: {
      create: (input) => createTrace(backend, input),
      heartbeat: (id) => heartbeat(backend, id),
      complete: (id, result, completeOptions) => completeTrace(backend, id, result, completeOptions),
      fail: (id, error, status) => failTrace(backend, id, error, status),
      get: (id, getOptions) => getTrace(backend, id, getOptions),
      list: (filters, listOptions) => listTraces(backend, filters, listOptions),
      usage: async (id) => {
        const rows = await backend.prisma.expertUsage.findMany({ where: { traceId: id }, orderBy: [{ channel: 'asc' }, { layer: 'asc' }] });
        return expertRows(rows);
      },
      completedKeys: async ({ modelName, configHash, collection }) => {
        const rows = await backend.prisma.trace.findMany({
          where: {
            status: 'complete',
            model: { name: modelName, configHash },
            ...(collection ? { collections: { some: { collection: { name: collection } } } } : {}),
          },
          select: { promptId: true, effort: true, sampleIndex: true },
        });
        return new Set(rows.map((row) => captureKey(row.promptId, row.effort, row.sampleIndex)));
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
