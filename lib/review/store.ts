/**
 * Filter outputs in the store, one row per trace, filter name and version: storing the same version
 * again is a no-op, a new version is stored beside the old.
 */
import type { Backend } from '../store/backend';
import type { Store, StoredTrace } from '../store/index';
import { policyFilter, type FilteredReasoning, type FilterIdentity, type ModelSummary, type Redaction } from './filter';
import type { FilterRules } from './rules';
import { Prisma } from '../store/generated/client';

/** The trace's own system and developer text (as written, and as rendered), for prompt-leak detection. */
export function promptSources(trace: Pick<StoredTrace, 'messages' | 'metadata'>): string[] {
  const written = trace.metadata.prompt.filter((message) => message.role === 'system' || message.role === 'developer').map((message) => message.content);
  const rendered = trace.messages.filter((message) => message.role === 'system' || message.role === 'developer').map((message) => message.content);
  return [...written, ...rendered].filter((text) => text.length > 0);
}

/** The filter's output for a trace loaded with its raw reasoning and tokens. */
export function filterTraceData(trace: StoredTrace, rules: FilterRules): Omit<FilteredReasoning, 'stored' | 'summary'> {
  if (!trace.metadata.rawCotIncluded) throw new Error(`trace ${trace.id} was loaded without its raw reasoning: the filter needs it`);
  return policyFilter(rules).run({ messages: trace.messages, tokens: trace.tokens, promptSources: promptSources(trace) });
}

export async function hasFilterOutput(backend: Backend, traceId: string, filter: FilterIdentity): Promise<boolean> {
  return (await backend.prisma.filterOutput.count({ where: { traceId, filterName: filter.name, filterVersion: filter.version } })) > 0;
}

/** Stores an output unless this version is stored already; true when it was written. */
export async function saveFilterOutput(backend: Backend, traceId: string, output: Omit<FilteredReasoning, 'stored'>): Promise<boolean> {
  const rows = await backend.prisma.$executeRawUnsafe(
    `INSERT INTO filter_outputs (trace_id, filter_name, filter_version, text, redactions, summary)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) ON CONFLICT DO NOTHING`,
    traceId, output.filter.name, output.filter.version, output.text, JSON.stringify(output.redactions), output.summary ? JSON.stringify(output.summary) : null);
  return rows === 1;
}

export async function loadFilterOutput(backend: Backend, traceId: string, filter: FilterIdentity): Promise<FilteredReasoning | null> {
  const row = await backend.prisma.filterOutput.findUnique({ where: { traceId_filterName_filterVersion: { traceId, filterName: filter.name, filterVersion: filter.version } } });
  if (!row) return null;
  return {
    filter: { name: row.filterName, version: row.filterVersion }, text: row.text, redactions: row.redactions as unknown as Redaction[],
    stored: true, summary: (row.summary as unknown as ModelSummary | null) ?? null,
  };
}

/** Every stored version of the filters for a trace, newest first. */
export async function listFilterOutputs(backend: Backend, traceId: string): Promise<FilterIdentity[]> {
  const rows = await backend.prisma.filterOutput.findMany({ where: { traceId }, orderBy: { createdAt: 'desc' }, select: { filterName: true, filterVersion: true } });
  return rows.map((row) => ({ name: row.filterName, version: row.filterVersion }));
}

export type FilterRunResult = 'filtered' | 'summarized' | 'unchanged' | 'missing';

/**
 * Filters one stored trace with `rules` and stores the output; a no-op when this version is stored
 * already. `summarize` (optional) adds a model summary of the filtered text, also to an output
 * stored earlier without one.
 */
export async function filterStoredTrace(
  store: Store, traceId: string, rules: FilterRules, summarize?: (filteredText: string) => Promise<ModelSummary>,
): Promise<FilterRunResult> {
  const identity = policyFilter(rules).identity;
  const existing = await loadFilterOutput(store.backend, traceId, identity);
  if (existing && (!summarize || existing.summary)) return 'unchanged';
  if (existing && summarize) {
    const summary = await summarize(existing.text);
    await store.backend.prisma.filterOutput.updateMany({
      where: { traceId, filterName: identity.name, filterVersion: identity.version, summary: { equals: Prisma.DbNull } },
      data: { summary: summary as unknown as Prisma.InputJsonValue },
    });
    return 'summarized';
  }
  const trace = await store.traces.get(traceId, { includeRawCot: true, sections: ['tokens'] });
  if (!trace) return 'missing';
  const output = filterTraceData(trace, rules);
  const summary = summarize ? await summarize(output.text) : null;
  return (await saveFilterOutput(store.backend, traceId, { ...output, summary })) ? 'filtered' : 'unchanged';
}
