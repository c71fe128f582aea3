/**
 * What an export reads from the store: the traces a selection names (soft-deleted ones left out),
 * in creation order, and each one's review data read straight from its tables.
 */
import type { Store } from '../store/index';
import type { TraceFilters } from '../store/types';
import type { ReviewData } from './rows';

export interface Selection {
  /** Trace ids; when given, the filters are ignored. */
  ids?: string[];
  /** The filters of `traces list` (collection, model, effort, status, tag, prompt id, dates, text). */
  filters?: TraceFilters;
}

const PAGE = 500;
/** Ids per `IN (...)` list: PostgreSQL binds at most 65,535 parameters. */
const IDS_PER_QUERY = 10_000;

export function chunked<T>(items: T[], size = IDS_PER_QUERY): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, (index + 1) * size));
}

/** Whether any of the traces' models has more than 256 experts (expert ids then need uint16). */
export async function hasWideExperts(store: Store, ids: string[]): Promise<boolean> {
  for (const chunk of chunked(ids)) {
    if (await store.backend.prisma.trace.count({ where: { id: { in: chunk }, model: { numExperts: { gt: 256 } } } }) > 0) return true;
  }
  return false;
}

/** Ids of the selected traces that are not soft-deleted, oldest first. */
export async function selectTraceIds(store: Store, selection: Selection): Promise<string[]> {
  const { prisma } = store.backend;
  if (selection.ids) {
    const found: { id: string; createdAt: Date }[] = [];
    for (const chunk of chunked(selection.ids)) {
      found.push(...await prisma.trace.findMany({ where: { id: { in: chunk }, deletedAt: null }, select: { id: true, createdAt: true } }));
    }
    return found.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((row) => row.id);
  }
  // The list leaves soft-deleted traces out.
  const filters: TraceFilters = { status: 'complete', ...selection.filters };
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.traces.list(filters, { sort: 'createdAt', direction: 'asc', limit: PAGE, cursor });
    ids.push(...page.items.map((item) => item.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

/** The newest filter output, live annotations and verdicts of a trace. */
export async function readReviewData(store: Store, traceId: string, createdAt: string, completedAt: string | null): Promise<ReviewData> {
  const { prisma } = store.backend;
  const [filter, annotations, verdicts] = await Promise.all([
    prisma.filterOutput.findFirst({ where: { traceId }, orderBy: [{ createdAt: 'desc' }, { filterVersion: 'desc' }] }),
    prisma.annotation.findMany({ where: { traceId, deletedAt: null }, orderBy: [{ tokenStart: 'asc' }, { id: 'asc' }] }),
    prisma.verdict.findMany({ where: { traceId }, orderBy: { annotator: 'asc' } }),
  ]);
  return {
    filter: filter && { name: filter.filterName, version: filter.filterVersion, text: filter.text, redactions: filter.redactions as unknown as NonNullable<ReviewData['filter']>['redactions'] },
    annotations: annotations.map((row) => ({
      id: row.id, message_index: row.messageIndex, token_start: row.tokenStart, token_end: row.tokenEnd, char_start: row.charStart, char_end: row.charEnd,
      text: row.text, label: row.label, severity: row.severity, annotator: row.annotator, kind: row.kind, review_state: row.reviewState,
      note: row.note, created_at: row.createdAt, updated_at: row.updatedAt,
    })),
    verdicts: verdicts.map((row) => ({ annotator: row.annotator, verdict: row.verdict, rationale: row.rationale, created_at: row.createdAt, updated_at: row.updatedAt })),
    createdAt: new Date(createdAt),
    completedAt: completedAt ? new Date(completedAt) : null,
  };
}
