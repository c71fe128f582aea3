/**
 * Collections as review units: their settings (overlap, blind mode, taxonomy, description), counts
 * for the list, and the agreement of their annotators (lib/review/agreement.ts over the stored
 * verdicts and human spans of the collection's live traces).
 */
import type { Backend } from '../store/backend';
import { Prisma } from '../store/generated/client';
import { getTrace } from '../store/traces';
import { isAnalysisMessage } from '../trace/visibility';
import { actorOf, audit } from '../auth/audit';
import type { Identity } from '../auth/roles';
import { contentTokenOffsets } from './filter';
import { pairwiseKappa, spanAgreement, type KappaPair, type SpanAgreement, type SpanLabel, type TraceSpans } from './agreement';
import { notFound } from './errors';
import { collectionTaxonomy, type TaxonomyLabel } from './taxonomy';

export interface CollectionSummary {
  name: string;
  description: string | null;
  overlap: number;
  blind: boolean;
  /** True when the collection has its own taxonomy (else the default). */
  customTaxonomy: boolean;
  taxonomy: TaxonomyLabel[];
  /** Live (not deleted) traces. */
  traces: number;
  /** Traces with at least one live annotation. */
  annotatedTraces: number;
  verdicts: number;
  createdAt: string;
}

export interface CollectionSettings {
  overlap?: number;
  blind?: boolean;
  /** null restores the default taxonomy. */
  taxonomy?: TaxonomyLabel[] | null;
  description?: string | null;
}

interface SummaryRow {
  name: string; description: string | null; overlap: number; blind: boolean; taxonomy: unknown; created_at: Date | string;
  traces: number; annotated_traces: number; verdicts: number;
}

const SUMMARY_SQL = `
  SELECT c.name, c.description, c.overlap, c.blind, c.taxonomy, c.created_at,
         count(t.id)::int AS traces,
         count(t.id) FILTER (WHERE EXISTS (SELECT 1 FROM annotations a WHERE a.trace_id = t.id AND a.deleted_at IS NULL))::int AS annotated_traces,
         COALESCE(sum((SELECT count(*) FROM verdicts v WHERE v.trace_id = t.id)), 0)::int AS verdicts
    FROM collections c
    LEFT JOIN collection_traces ct ON ct.collection_id = c.id
    LEFT JOIN traces t ON t.id = ct.trace_id AND t.deleted_at IS NULL`;

function summaryOf(row: SummaryRow): CollectionSummary {
  return {
    name: row.name, description: row.description, overlap: row.overlap, blind: row.blind, customTaxonomy: row.taxonomy !== null,
    taxonomy: collectionTaxonomy(row.taxonomy), traces: row.traces, annotatedTraces: row.annotated_traces, verdicts: row.verdicts,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

export async function listCollectionSummaries(backend: Backend): Promise<CollectionSummary[]> {
  const rows = await backend.fast.query<SummaryRow>(`${SUMMARY_SQL} GROUP BY c.id ORDER BY c.name`);
  return rows.map(summaryOf);
}

export async function collectionSummary(backend: Backend, name: string): Promise<CollectionSummary> {
  const [row] = await backend.fast.query<SummaryRow>(`${SUMMARY_SQL} WHERE c.name = $1 GROUP BY c.id`, [name]);
  if (!row) throw notFound(`collection ${name} does not exist`);
  return summaryOf(row);
}

/** Changes a collection's review settings (audited with what changed). */
export async function updateCollection(backend: Backend, identity: Identity, name: string, settings: CollectionSettings): Promise<CollectionSummary> {
  const data: Prisma.CollectionUpdateManyMutationInput = {
    ...(settings.overlap !== undefined ? { overlap: settings.overlap } : {}),
    ...(settings.blind !== undefined ? { blind: settings.blind } : {}),
    ...(settings.description !== undefined ? { description: settings.description } : {}),
    ...(settings.taxonomy !== undefined ? { taxonomy: settings.taxonomy === null ? Prisma.DbNull : (settings.taxonomy as unknown as Prisma.InputJsonValue) } : {}),
  };
  const changed = await backend.prisma.collection.updateMany({ where: { name }, data });
  if (changed.count === 0) throw notFound(`collection ${name} does not exist`);
  await audit(backend, { actor: actorOf(identity), action: 'collection.update', target: name, detail: { ...settings } });
  return collectionSummary(backend, name);
}

export interface CollectionAgreement {
  collection: string;
  verdicts: { pairs: KappaPair[] };
  spans: SpanAgreement;
}

/** Content token ranges of a trace's analysis messages (the span-agreement units). */
async function analysisRanges(backend: Backend, traceId: string): Promise<[number, number][]> {
  const trace = await getTrace(backend, traceId, { includeRawCot: true, sections: ['tokens'] });
  if (!trace) return [];
  return trace.messages.filter(isAnalysisMessage).flatMap((message): [number, number][] => {
    const offsets = contentTokenOffsets(message, trace.tokens);
    return offsets && offsets.length > 0 ? [[offsets[0].token, offsets[offsets.length - 1].token + 1]] : [];
  });
}

/**
 * Agreement over a collection's live traces: kappa per annotator pair on verdicts, alpha on human
 * spans at token level (overall and per taxonomy label). An annotator reviewed a trace when they
 * set a verdict on it, submitted it in the queue, or made a human span on it.
 */
export async function collectionAgreement(backend: Backend, name: string): Promise<CollectionAgreement> {
  const collection = await backend.prisma.collection.findUnique({ where: { name }, select: { id: true, taxonomy: true } });
  if (!collection) throw notFound(`collection ${name} does not exist`);
  const traces = await backend.prisma.trace.findMany({
    where: { deletedAt: null, collections: { some: { collectionId: collection.id } } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: {
      id: true,
      verdicts: { select: { annotator: true, verdict: true } },
      assignments: { where: { collectionId: collection.id, state: 'submitted' }, select: { annotator: true } },
      annotations: { where: { deletedAt: null, kind: 'human' }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], select: { annotator: true, tokenStart: true, tokenEnd: true, label: true } },
    },
  });
  const ratings = new Map(traces.map((trace) => [trace.id, new Map(trace.verdicts.map((v) => [v.annotator, v.verdict as string]))]));
  const spanTraces: TraceSpans[] = [];
  for (const trace of traces) {
    const reviewers = new Set([...trace.verdicts, ...trace.assignments, ...trace.annotations].map((row) => row.annotator));
    if (reviewers.size === 0) continue;
    const annotators = new Map<string, SpanLabel[]>([...reviewers].map((annotator) => [annotator, []]));
    for (const span of trace.annotations) annotators.get(span.annotator)!.push(span);
    spanTraces.push({ unitRanges: await analysisRanges(backend, trace.id), annotators });
  }
  const labels = collectionTaxonomy(collection.taxonomy).map((label) => label.key);
  return { collection: name, verdicts: { pairs: pairwiseKappa(ratings) }, spans: spanAgreement(spanTraces, labels) };
}
