/**
 * Curation after capture, every change in the audit log: a trace's tags and collections (set as a
 * whole, so moving a trace between collections is one change), soft delete, restore, and the purge
 * that deletes for good what was soft-deleted more than COTSCOPE_RETENTION_DAYS (default 30) ago.
 * A soft-deleted trace is hidden everywhere (lists, search, pages, APIs, queues, agreement) but its
 * rows stay until purged, so a restore loses nothing.
 */
import type { Backend } from '../store/backend';
import { addTags, addToCollection } from '../store/traces';
import { actorOf, audit } from '../auth/audit';
import type { Identity } from '../auth/roles';
import { conflict, notFound } from './errors';

export const DEFAULT_RETENTION_DAYS = 30;

export function retentionDays(): number {
  const raw = process.env.COTSCOPE_RETENTION_DAYS?.trim();
  const days = Number(raw);
  return raw && Number.isFinite(days) && days >= 0 ? days : DEFAULT_RETENTION_DAYS;
}

export interface TraceLabels {
  tags: string[];
  collections: string[];
}

async function liveLabels(backend: Backend, traceId: string): Promise<TraceLabels> {
  const trace = await backend.prisma.trace.findFirst({
    where: { id: traceId, deletedAt: null },
    select: { tags: { select: { tag: { select: { name: true } } } }, collections: { select: { collection: { select: { name: true } } } } },
  });
  if (!trace) throw notFound(`trace ${traceId} does not exist`);
  return { tags: trace.tags.map((link) => link.tag.name).sort(), collections: trace.collections.map((link) => link.collection.name).sort() };
}

/**
 * Replaces a trace's tags and/or collections with the given sets (a new name is created); one
 * audit entry per changed set, with what it was and what it is.
 */
export async function setTraceLabels(backend: Backend, identity: Identity, traceId: string, change: Partial<TraceLabels>): Promise<TraceLabels> {
  const before = await liveLabels(backend, traceId);
  await backend.fast.transaction(async (query) => {
    if (change.tags) {
      await query('DELETE FROM trace_tags tt USING tags t WHERE tt.tag_id = t.id AND tt.trace_id = $1 AND NOT (t.name = ANY($2::text[]))', [traceId, change.tags]);
      if (change.tags.length > 0) await addTags(query, traceId, change.tags);
    }
    if (change.collections) {
      await query('DELETE FROM collection_traces ct USING collections c WHERE ct.collection_id = c.id AND ct.trace_id = $1 AND NOT (c.name = ANY($2::text[]))', [traceId, change.collections]);
      for (const name of new Set(change.collections)) await addToCollection(query, name, [traceId]);
    }
  });
  const after = await liveLabels(backend, traceId);
  const actor = actorOf(identity);
  if (change.tags && before.tags.join('\n') !== after.tags.join('\n')) {
    await audit(backend, { actor, action: 'trace.tags', target: traceId, detail: { from: before.tags, to: after.tags } });
  }
  if (change.collections && before.collections.join('\n') !== after.collections.join('\n')) {
    await audit(backend, { actor, action: 'trace.collections', target: traceId, detail: { from: before.collections, to: after.collections } });
  }
  return after;
}

/** Hides a trace everywhere from now; purged for good after the retention period. 404 when missing or deleted already. */
export async function softDeleteTrace(backend: Backend, identity: Identity, traceId: string): Promise<{ purgeAfter: string }> {
  const changed = await backend.prisma.trace.updateMany({ where: { id: traceId, deletedAt: null }, data: { deletedAt: new Date(), deletedBy: identity.name } });
  if (changed.count === 0) throw notFound(`trace ${traceId} does not exist`);
  const days = retentionDays();
  const purgeAfter = new Date(Date.now() + days * 86_400_000).toISOString();
  await audit(backend, { actor: actorOf(identity), action: 'trace.delete', target: traceId, detail: { soft: true, retentionDays: days, purgeAfter } });
  return { purgeAfter };
}

/** Brings a soft-deleted trace back. 404 when it does not exist (or was purged), 409 when it is not deleted. */
export async function restoreTrace(backend: Backend, identity: Identity, traceId: string): Promise<void> {
  const trace = await backend.prisma.trace.findUnique({ where: { id: traceId }, select: { deletedAt: true, deletedBy: true } });
  if (!trace) throw notFound(`trace ${traceId} does not exist (a purged trace cannot be restored)`);
  if (!trace.deletedAt) throw conflict(`trace ${traceId} is not deleted`);
  await backend.prisma.trace.updateMany({ where: { id: traceId }, data: { deletedAt: null, deletedBy: null } });
  await audit(backend, { actor: actorOf(identity), action: 'trace.restore', target: traceId, detail: { deletedAt: trace.deletedAt.toISOString(), deletedBy: trace.deletedBy } });
}

/** Deletes for good the traces soft-deleted more than `days` ago (default the retention period); returns their ids. */
export async function purgeDeletedTraces(backend: Backend, actor: string, days = retentionDays()): Promise<string[]> {
  const cutoff = new Date(Date.now() - days * 86_400_000);
  const doomed = await backend.prisma.trace.findMany({ where: { deletedAt: { lte: cutoff } }, select: { id: true } });
  if (doomed.length === 0) return [];
  const ids = doomed.map((trace) => trace.id);
  await backend.prisma.trace.deleteMany({ where: { id: { in: ids }, deletedAt: { lte: cutoff } } });
  await audit(backend, { actor, action: 'trace.purge', target: null, detail: { traces: ids, retentionDays: days } });
  return ids;
}

/** Soft-deleted traces, newest deletion first (for the CLI). */
export async function listDeletedTraces(backend: Backend): Promise<{ id: string; deletedAt: string; deletedBy: string | null }[]> {
  const rows = await backend.prisma.trace.findMany({ where: { deletedAt: { not: null } }, orderBy: { deletedAt: 'desc' }, select: { id: true, deletedAt: true, deletedBy: true } });
  return rows.map((row) => ({ id: row.id, deletedAt: row.deletedAt!.toISOString(), deletedBy: row.deletedBy }));
}
