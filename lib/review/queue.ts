/**
 * Review queues, one per collection: "next trace for me", skip, submit (setting a verdict,
 * lib/review/verdicts.ts), progress. Each trace wants `overlap` annotators; a slot is taken by an
 * annotator who holds the trace (assigned) or is done with it (submitted). An assignment not
 * finished within COTSCOPE_REVIEW_STALE_HOURS (default 24) is stale: it no longer holds a slot, and
 * its annotator resumes it only while the trace still has a free slot.
 *
 * Concurrency: next() runs in one transaction that first takes a transaction-scoped advisory lock
 * per collection, so two callers never both see the last free slot of a trace (PostgreSQL under
 * READ COMMITTED re-reads committed rows after the lock; PGlite runs transactions one at a time).
 */
import type { Backend, SqlQuery } from '../store/backend';
import { conflict, notFound } from './errors';

export const DEFAULT_STALE_HOURS = 24;

/** Hours after which an unfinished assignment frees its slot (COTSCOPE_REVIEW_STALE_HOURS). */
export function staleHours(): number {
  const configured = Number(process.env.COTSCOPE_REVIEW_STALE_HOURS);
  return Number.isFinite(configured) && configured > 0 ? configured : DEFAULT_STALE_HOURS;
}

export interface AnnotatorProgress {
  annotator: string;
  /** Traces submitted (verdict set). */
  done: number;
  skipped: number;
  /** Traces held now (not stale). */
  assigned: number;
}

export interface QueueProgress {
  collection: string;
  overlap: number;
  /** Live traces in the collection. */
  total: number;
  /** Traces with at least `overlap` submissions. */
  complete: number;
  perAnnotator: AnnotatorProgress[];
}

export interface QueueOptions {
  staleHours?: number;
}

interface CollectionRow { id: string; overlap: number }

async function collectionOf(query: SqlQuery, name: string): Promise<CollectionRow> {
  const [row] = await query<CollectionRow>('SELECT id, overlap FROM collections WHERE name = $1', [name]);
  if (!row) throw notFound(`collection ${name} does not exist`);
  return row;
}

const staleCutoff = (options: QueueOptions) => new Date(Date.now() - (options.staleHours ?? staleHours()) * 3_600_000).toISOString();

/** Annotators holding a slot of trace `trace` (SQL expression) in collection $1, fresh after cutoff $3. */
const TAKEN_SLOTS = (trace: string) => `(SELECT count(*) FROM review_assignments o WHERE o.collection_id = $1 AND o.trace_id = ${trace}
  AND (o.state = 'submitted' OR (o.state = 'assigned' AND o.assigned_at > $3::timestamptz)))`;

/** Live, finished traces of collection $1 (alias ct / t). */
const LIVE_TRACES = `collection_traces ct JOIN traces t ON t.id = ct.trace_id AND t.deleted_at IS NULL AND t.status <> 'running'`;

/**
 * The trace `annotator` should review next in `collection`, assigned to them: the one they already
 * hold, else the oldest trace they have not done or skipped whose slots are not all taken. Null
 * when there is none.
 */
export async function nextTrace(backend: Backend, collection: string, annotator: string, options: QueueOptions = {}): Promise<string | null> {
  const cutoff = staleCutoff(options);
  return backend.fast.transaction(async (query) => {
    const { id, overlap } = await collectionOf(query, collection);
    await query(`SELECT pg_advisory_xact_lock(hashtext('cotscope.review-queue'), hashtext($1))`, [id]);
    const params = [id, annotator, cutoff, overlap];
    const [held] = await query<{ trace_id: string }>(
      `SELECT a.trace_id FROM review_assignments a JOIN ${LIVE_TRACES} ON ct.collection_id = a.collection_id AND ct.trace_id = a.trace_id
        WHERE a.collection_id = $1 AND a.annotator = $2 AND a.state = 'assigned'
          AND (a.assigned_at > $3::timestamptz OR ${TAKEN_SLOTS('a.trace_id')} < $4)
        ORDER BY a.assigned_at, a.trace_id LIMIT 1`, params);
    const traceId = held?.trace_id ?? (await query<{ trace_id: string }>(
      `SELECT ct.trace_id FROM ${LIVE_TRACES}
        WHERE ct.collection_id = $1
          AND NOT EXISTS (SELECT 1 FROM review_assignments m WHERE m.collection_id = $1 AND m.trace_id = ct.trace_id AND m.annotator = $2)
          AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.trace_id = ct.trace_id AND v.annotator = $2)
          AND ${TAKEN_SLOTS('ct.trace_id')} < $4
        ORDER BY t.created_at, t.id LIMIT 1`, params))[0]?.trace_id;
    if (!traceId) return null;
    await query(
      `INSERT INTO review_assignments (collection_id, trace_id, annotator, state, assigned_at) VALUES ($1, $2, $3, 'assigned', now())
       ON CONFLICT (collection_id, trace_id, annotator) DO UPDATE SET state = 'assigned', assigned_at = now(), finished_at = NULL`,
      [id, traceId, annotator]);
    return traceId;
  });
}

/** `annotator` passes on a trace of the collection; it is not offered to them again. 409 once they submitted. */
export async function skipTrace(backend: Backend, collection: string, annotator: string, traceId: string): Promise<void> {
  await backend.fast.transaction(async (query) => {
    const { id } = await collectionOf(query, collection);
    const [member] = await query(`SELECT 1 FROM ${LIVE_TRACES} WHERE ct.collection_id = $1 AND ct.trace_id = $2`, [id, traceId]);
    if (!member) throw notFound(`trace ${traceId} is not in collection ${collection}`);
    const [current] = await query<{ state: string }>('SELECT state FROM review_assignments WHERE collection_id = $1 AND trace_id = $2 AND annotator = $3', [id, traceId, annotator]);
    if (current?.state === 'submitted') throw conflict(`${annotator} already submitted trace ${traceId}: a submitted review cannot be skipped`);
    await query(
      `INSERT INTO review_assignments (collection_id, trace_id, annotator, state, finished_at) VALUES ($1, $2, $3, 'skipped', now())
       ON CONFLICT (collection_id, trace_id, annotator) DO UPDATE SET state = 'skipped', finished_at = now()`,
      [id, traceId, annotator]);
  });
}

export async function queueProgress(backend: Backend, collection: string, options: QueueOptions = {}): Promise<QueueProgress> {
  const query = backend.fast.query;
  const { id, overlap } = await collectionOf(query, collection);
  const cutoff = staleCutoff(options);
  const [totals] = await query<{ total: number; complete: number }>(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE (SELECT count(*) FROM review_assignments s WHERE s.collection_id = $1 AND s.trace_id = ct.trace_id AND s.state = 'submitted') >= $2)::int AS complete
       FROM ${LIVE_TRACES} WHERE ct.collection_id = $1`, [id, overlap]);
  const rows = await query<AnnotatorProgress>(
    `SELECT a.annotator,
            count(*) FILTER (WHERE a.state = 'submitted')::int AS done,
            count(*) FILTER (WHERE a.state = 'skipped')::int AS skipped,
            count(*) FILTER (WHERE a.state = 'assigned' AND a.assigned_at > $2::timestamptz)::int AS assigned
       FROM review_assignments a JOIN ${LIVE_TRACES} ON ct.collection_id = a.collection_id AND ct.trace_id = a.trace_id
      WHERE a.collection_id = $1 GROUP BY a.annotator ORDER BY a.annotator`, [id, cutoff]);
  return { collection, overlap, total: totals.total, complete: totals.complete, perAnnotator: rows };
}
