/**
 * One process per PGlite data folder. Two PGlite instances on one folder each keep their own
 * buffers and WAL position and overwrite each other's pages: traces vanish and index lookups
 * return other traces' rows (issue 8). The first process to open the folder creates a lock file
 * with O_EXCL naming itself; any other process (or a second open in the same process) is refused
 * with an error that names the holder. A lock left by a process that died on this host is taken
 * over; one from another host is never guessed about.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { processIsAlive } from './owner';

export interface LockHolder {
  pid: number;
  host: string;
  /** The holder's command line, for the error message. */
  command: string;
  startedAt: string;
  /** Kernel start time of the holder (Linux /proc), so a reused pid is not mistaken for the holder. */
  processStart: string | null;
  /** Unique per acquisition: tells this lock apart from a newer one at the same path. */
  nonce: string;
}

export class StoreLockedError extends Error {
  constructor(readonly folder: string, readonly lockPath: string, readonly holder: LockHolder | null) {
    super(`${describeHolder(folder, holder)}. PGlite allows one process per data folder: stop that process first, or point this one at ` +
      `PostgreSQL (DATABASE_URL) or another COTSCOPE_DATA_DIR (lock file ${lockPath}; delete it only if that process is certainly gone)`);
    this.name = 'StoreLockedError';
  }
}

function describeHolder(folder: string, holder: LockHolder | null): string {
  if (!holder) return `the PGlite store in ${folder} is locked, and the lock file does not say by whom`;
  const self = holder.pid === process.pid && holder.host === hostname() ? ' (this very process: the store is already open here)' : '';
  return `the PGlite store in ${folder} is in use by pid ${holder.pid} on host ${holder.host}${self}, command "${holder.command}", since ${holder.startedAt}`;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot); null off Linux or when unreadable. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the holder is certainly gone: same host, and its pid is dead or now runs another process. */
export function holderIsGone(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return false;
  if (!processIsAlive(holder.pid)) return true;
  const start = processStartTime(holder.pid);
  return holder.processStart !== null && start !== null && start !== holder.processStart;
}

function readHolder(path: string): LockHolder | null {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' && typeof holder.nonce === 'string' ? (holder as LockHolder) : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    return null; // being written, or garbage
  }
}

function readHolderOrNull(path: string): LockHolder | null {
  try {
    return readHolder(path);
  } catch {
    return null;
  }
}

function createExclusive(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Moves a dead holder's lock out of the way. Another process may have taken the stale lock over
 * between our read and the rename; if what we moved is not the lock we judged stale, it goes back
 * (link fails rather than overwrite, should yet another lock have appeared meanwhile).
 */
function removeStaleLock(path: string, stale: LockHolder): void {
  const aside = `${path}.stale-${process.pid}-${randomUUID()}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = readHolder(aside);
  if (moved?.nonce !== stale.nonce) {
    try { linkSync(aside, path); } catch { /* a newer lock is in place */ }
  }
  unlinkSync(aside);
}

export interface FolderLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

const ATTEMPTS = 5;
const UNREADABLE_RETRY_MS = 50;

/** Blocks the thread briefly: opening a store is synchronous up to here and short waits keep it so. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the lock at `path` for this process, or throws StoreLockedError naming the process that holds it. */
export function acquireFolderLock(path: string, folder: string): FolderLock {
  const holder: LockHolder = {
    pid: process.pid, host: hostname(), command: process.argv.join(' ').slice(0, 500),
    startedAt: new Date().toISOString(), processStart: processStartTime(process.pid), nonce: randomUUID(),
  };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createExclusive(path, holder)) return heldLock(path, holder);
    let existing: LockHolder | null;
    try {
      existing = readHolder(path);
    } catch {
      continue; // released between our create and read: try again
    }
    if (!existing && attempt < ATTEMPTS - 1) {
      pause(UNREADABLE_RETRY_MS); // created but not yet written by its owner
      continue;
    }
    if (!existing || !holderIsGone(existing)) throw new StoreLockedError(folder, path, existing);
    removeStaleLock(path, existing);
  }
  throw new StoreLockedError(folder, path, readHolderOrNull(path));
}

function heldLock(path: string, holder: LockHolder): FolderLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (readHolder(path)?.nonce === holder.nonce) unlinkSync(path);
    } catch { /* already gone */ }
  };
  // process.exit() and a normal end run 'exit' handlers; a kill -9 leaves the file, taken over as stale next time.
  process.on('exit', release);
  return { path, holder, release };
}
