/**
 * The audit log: who signed in (or failed to), used a token, changed a role or a user, read raw
 * reasoning through the API or an export as a script, ran a filter, deleted, restored or purged a
 * trace, changed a trace's tags or collections or a collection's review settings, or set a verdict.
 */
import type { Backend } from '../store/backend';
import type { Identity } from './roles';

export const AUDIT_ACTIONS = [
  'session.signin', 'session.signin_failed', 'session.signout', 'token.use', 'token.create', 'token.revoke',
  'user.add', 'user.role', 'user.password', 'user.remove', 'raw.read', 'filter.run', 'trace.delete',
  'trace.restore', 'trace.purge', 'trace.tags', 'trace.collections', 'collection.update', 'verdict.set',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  actor: string;
  action: AuditAction;
  target?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditRecord extends Required<AuditEntry> {
  id: string;
  at: string;
}

/** The actor as the log names it: the user, and the token when a script acted. */
export function actorOf(identity: Identity): string {
  return identity.tokenId ? `${identity.name} (token ${identity.tokenId})` : identity.mode === 'configured' ? identity.name : `${identity.name} (${identity.mode})`;
}

export async function audit(backend: Backend, entry: AuditEntry): Promise<void> {
  await backend.prisma.auditEvent.create({
    data: { actor: entry.actor, action: entry.action, target: entry.target ?? null, detail: (entry.detail ?? undefined) as object | undefined },
  });
}

export interface AuditQuery {
  limit?: number;
  action?: string;
  actor?: string;
  since?: Date;
}

export async function listAudit(backend: Backend, query: AuditQuery = {}): Promise<AuditRecord[]> {
  const rows = await backend.prisma.auditEvent.findMany({
    where: {
      ...(query.action ? { action: query.action } : {}),
      ...(query.actor ? { actor: { startsWith: query.actor } } : {}),
      ...(query.since ? { at: { gte: query.since } } : {}),
    },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
    take: Math.min(Math.max(1, query.limit ?? 100), 1000),
  });
  return rows.map((row) => ({
    id: row.id.toString(), at: row.at.toISOString(), actor: row.actor, action: row.action as AuditAction,
    target: row.target, detail: (row.detail as Record<string, unknown> | null) ?? null,
  }));
}
