/**
 * Trace listing for the UI and CLI: server-side filters, sorting and keyset pagination (a cursor
 * names the last row's sort value and id, so pages stay stable while new traces arrive), and
 * full-text search over message text. Only plainly visible text (prompt, final answer) is searched
 * unless raw chain of thought is asked for (lib/trace/visibility.ts).
 */
import type { Backend } from './backend';
import { isStorableText } from '../trace/text';
import { plainlyVisibleSql } from '../trace/visibility';
import type { Prisma } from './generated/client';
import type { ListOptions, SearchHit, SortKey, TraceFilters, TraceListItem, TracePage, TraceReviewSummary, TraceStatus } from './types';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
const PREVIEW_CHARS = 160;

type CursorValue = [sortValue: string | number, id: string];

export class BadCursorError extends Error {
  constructor(cursor: string) {
    super(`invalid page cursor "${cursor.slice(0, 40)}": pass the nextCursor of a previous page unchanged`);
    this.name = 'BadCursorError';
  }
}

/** A filter value the database cannot compare (NUL, unpaired surrogate, date out of range). */
export class BadQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadQueryError';
  }
}

function checkFilters(filters: TraceFilters): void {
  for (const [name, value] of Object.entries(filters)) {
    if (typeof value === 'string' && !isStorableText(value)) throw new BadQueryError(`filter ${name} must not contain NUL characters or unpaired surrogates`);
    if (value instanceof Date && !(value.getTime() >= MIN_TIMESTAMP && value.getTime() <= MAX_TIMESTAMP)) {
      throw new BadQueryError(`filter ${name} must be a date in years 1-9999`);
    }
  }
}

export function encodeCursor(value: CursorValue): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor(cursor: string): CursorValue {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[1] === 'string' && isStorableText(value[1]) && ['string', 'number'].includes(typeof value[0])) {
      return value as CursorValue;
    }
  } catch {
    // reported below
  }
  throw new BadCursorError(cursor);
}

/** Ids of traces with a message matching the query; analysis text only when includeRawCot. */
async function tracesMatchingText(backend: Backend, text: string, includeRawCot: boolean): Promise<string[]> {
  const rows = await backend.prisma.$queryRawUnsafe<{ trace_id: string }[]>(
    `SELECT DISTINCT m.trace_id FROM messages m JOIN traces t ON t.id = m.trace_id
      WHERE m.search @@ websearch_to_tsquery('english', $1) AND t.deleted_at IS NULL AND ($2 OR ${plainlyVisibleSql('m', 't')})`,
    text, includeRawCot);
  return rows.map((row) => row.trace_id);
}

async function whereOf(backend: Backend, filters: TraceFilters, includeRawCot: boolean): Promise<Prisma.TraceWhereInput[]> {
  // A soft-deleted trace (lib/review/curation.ts) is in no list.
  const conditions: Prisma.TraceWhereInput[] = [{ deletedAt: null }];
  if (filters.model) conditions.push({ OR: [{ modelId: filters.model }, { model: { name: filters.model } }] });
  if (filters.collection) conditions.push({ collections: { some: { collection: { name: filters.collection } } } });
  if (filters.tag) conditions.push({ tags: { some: { tag: { name: filters.tag } } } });
  if (filters.effort) conditions.push({ effort: filters.effort });
  if (filters.status) conditions.push({ status: filters.status });
  if (filters.promptId) conditions.push({ promptId: filters.promptId });
  if (filters.createdFrom) conditions.push({ createdAt: { gte: filters.createdFrom } });
  if (filters.createdTo) conditions.push({ createdAt: { lt: filters.createdTo } });
  if (filters.text) conditions.push({ id: { in: await tracesMatchingText(backend, filters.text, includeRawCot) } });
  if (filters.hasAnnotations !== undefined) conditions.push({ annotations: filters.hasAnnotations ? { some: { deletedAt: null } } : { none: { deletedAt: null } } });
  if (filters.label) conditions.push({ annotations: { some: { deletedAt: null, label: filters.label } } });
  if (filters.verdict) conditions.push({ verdicts: { some: { verdict: filters.verdict } } });
  if (filters.annotator) conditions.push({ OR: [{ annotations: { some: { deletedAt: null, annotator: filters.annotator } } }, { verdicts: { some: { annotator: filters.annotator } } }] });
  return conditions;
}

const MIN_TIMESTAMP = Date.UTC(1, 0, 1);
const MAX_TIMESTAMP = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MAX_INT4 = 2 ** 31 - 1;

/** A createdAt cursor value: a date PostgreSQL's timestamptz holds (years 1-9999). */
function cursorDate(raw: string | number): Date {
  const date = new Date(raw);
  const time = date.getTime();
  if (!(time >= MIN_TIMESTAMP && time <= MAX_TIMESTAMP)) throw new BadCursorError(String(raw));
  return date;
}

/** A tokenCount cursor value: an integer column's value. */
function cursorCount(raw: string | number): number {
  const value = typeof raw === 'number' ? raw : Number.NaN;
  if (!Number.isInteger(value) || value < 0 || value > MAX_INT4) throw new BadCursorError(String(raw));
  return value;
}

function keysetCondition(sort: SortKey, direction: 'asc' | 'desc', cursor: CursorValue): Prisma.TraceWhereInput {
  const [rawValue, id] = cursor;
  const value = sort === 'createdAt' ? cursorDate(rawValue) : cursorCount(rawValue);
  const beyond = direction === 'desc' ? 'lt' : 'gt';
  return { OR: [{ [sort]: { [beyond]: value } }, { [sort]: value, id: { [beyond]: id } }] };
}

export async function listTraces(backend: Backend, filters: TraceFilters = {}, options: ListOptions = {}): Promise<TracePage> {
  const sort = options.sort ?? 'createdAt';
  const direction = options.direction ?? 'desc';
  const limit = Math.min(Math.max(1, options.limit ?? DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);
  checkFilters(filters);
  const filterConditions = await whereOf(backend, filters, options.includeRawCot ?? false);
  const pageConditions = options.cursor ? [...filterConditions, keysetCondition(sort, direction, decodeCursor(options.cursor))] : filterConditions;
  // One count(*) over the same filters, run alongside the page query.
  const totalQuery = backend.prisma.trace.count({ where: { AND: filterConditions } });
  const rows = await backend.prisma.trace.findMany({
    where: { AND: pageConditions },
    orderBy: [{ [sort]: direction }, { id: direction }],
    take: limit + 1,
    include: {
      model: { select: { name: true } },
      collections: { select: { collection: { select: { name: true } } } },
      tags: { select: { tag: { select: { name: true } } } },
      messages: { where: { role: 'assistant', channel: 'final' }, orderBy: { index: 'asc' }, take: 1, select: { text: true } },
      annotations: { where: { deletedAt: null }, select: { label: true, annotator: true } },
      verdicts: { select: { verdict: true, annotator: true } },
    },
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor = rows.length > limit && last ? encodeCursor([sort === 'createdAt' ? last.createdAt.toISOString() : last.tokenCount, last.id]) : null;
  const items: TraceListItem[] = page.map((row) => ({
    id: row.id,
    model: row.model.name,
    promptId: row.promptId,
    effort: row.effort,
    sampleIndex: row.sampleIndex,
    status: row.status as TraceStatus,
    promptTokens: row.promptTokens,
    tokenCount: row.tokenCount,
    stopReason: row.stopReason,
    createdAt: row.createdAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
    collections: row.collections.map((link) => link.collection.name).sort(),
    tags: row.tags.map((link) => link.tag.name).sort(),
    finalPreview: row.messages[0] ? row.messages[0].text.slice(0, PREVIEW_CHARS) : null,
    prefillMs: row.prefillMs,
    decodeMs: row.decodeMs,
    prefillTokensPerSecond: row.prefillTps,
    decodeTokensPerSecond: row.decodeTps,
    review: reviewSummary(row.annotations, row.verdicts),
  }));
  return { items, nextCursor, total: await totalQuery };
}

function reviewSummary(annotations: { label: string; annotator: string }[], verdicts: { verdict: string; annotator: string }[]): TraceReviewSummary {
  const counts = { safe: 0, unsafe: 0, unsure: 0 };
  for (const { verdict } of verdicts) counts[verdict as keyof typeof counts] += 1;
  return {
    annotationCount: annotations.length,
    labels: [...new Set(annotations.map((annotation) => annotation.label))].sort(),
    verdicts: counts,
    annotators: [...new Set([...annotations, ...verdicts].map((row) => row.annotator))].sort(),
  };
}

export interface SearchOptions {
  includeRawCot: boolean;
  limit?: number;
}

/** Best-ranked matching messages, with highlighted excerpts. */
export async function searchMessages(backend: Backend, text: string, options: SearchOptions): Promise<SearchHit[]> {
  checkFilters({ text });
  const limit = Math.min(Math.max(1, options.limit ?? DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);
  const rows = await backend.prisma.$queryRawUnsafe<{ trace_id: string; index: number; channel: string | null; role: string; rank: number; snippet: string }[]>(
    `SELECT m.trace_id, m.index, m.channel, m.role, ts_rank(m.search, q)::float8 AS rank,
            ts_headline('english', m.text, q, 'StartSel=[[,StopSel=]],MaxFragments=2,MaxWords=24,MinWords=8') AS snippet
       FROM messages m JOIN traces t ON t.id = m.trace_id, websearch_to_tsquery('english', $1) q
      WHERE m.search @@ q AND t.deleted_at IS NULL AND ($2 OR ${plainlyVisibleSql('m', 't')})
      ORDER BY rank DESC, m.trace_id, m.index
      LIMIT $3`,
    text, options.includeRawCot, limit);
  return rows.map((row) => ({ traceId: row.trace_id, messageIndex: row.index, channel: row.channel, role: row.role, rank: row.rank, snippet: row.snippet }));
}
