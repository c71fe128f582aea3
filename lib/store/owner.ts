/**
 * Who owns a `running` trace: the capturing process records pid, hostname and a heartbeat.
 * A running trace whose owner is gone (process dead on this host, or no heartbeat for a while on
 * another host) is stale: it is marked failed, never left to look complete or in progress.
 */
import { hostname } from 'node:os';

export const HEARTBEAT_INTERVAL_MS = 10_000;
export const DEFAULT_STALE_AFTER_MS = 5 * 60_000;

export interface Owner {
  pid: number;
  host: string;
}

export function currentOwner(): Owner {
  return { pid: process.pid, host: hostname() };
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

export interface RunningTraceOwner {
  ownerPid: number | null;
  ownerHost: string | null;
  heartbeatAt: Date | null;
}

/** Why a running trace is stale, or null when its owner may still be writing it. */
export function staleReason(trace: RunningTraceOwner, now: Date, staleAfterMs = DEFAULT_STALE_AFTER_MS): string | null {
  const lastBeat = trace.heartbeatAt ? trace.heartbeatAt.toISOString() : 'never';
  const silentMs = trace.heartbeatAt ? now.getTime() - trace.heartbeatAt.getTime() : Infinity;
  const me = currentOwner();
  if (trace.ownerHost === me.host && trace.ownerPid !== null) {
    if (!processIsAlive(trace.ownerPid)) return `capture process ${trace.ownerPid} on ${trace.ownerHost} is gone (last heartbeat ${lastBeat})`;
    if (trace.ownerPid === me.pid) return null;
  }
  if (silentMs > staleAfterMs) return `no heartbeat from ${trace.ownerHost ?? 'unknown host'} pid ${trace.ownerPid ?? '?'} since ${lastBeat}`;
  return null;
}
