/**
 * Where a finished generation goes when the database cannot take it (unreachable, or refusing the
 * write, e.g. a full disk): a `run --json` document in
 * `<data folder>/unsaved/<trace id>.json`, so an unreachable database never costs the generation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toRunJson } from '../trace/json';
import type { RunResult } from '../trace/types';
import { defaultDataDir, StoreUnavailableError } from './backend';

/** Writes the run and returns the file's path, or null when that fails too (a full disk). */
export function keepUnsavedRun(traceId: string, result: RunResult, dataDir = defaultDataDir()): string | null {
  try {
    const folder = join(dataDir, 'unsaved');
    mkdirSync(folder, { recursive: true });
    const file = join(folder, `${traceId}.json`);
    writeFileSync(file, `${JSON.stringify({ id: traceId, ...toRunJson(result) })}\n`);
    return file;
  } catch {
    return null;
  }
}

/** A finished run the store could not write; the generation is in `keptIn` when that could be written. */
export class TraceNotSavedError extends Error {
  constructor(readonly traceId: string, readonly keptIn: string | null, cause: unknown) {
    super(`trace ${traceId} was not saved: ${(cause as Error)?.message ?? String(cause)}${keptIn ? `; the generation is kept in ${keptIn}` : ''}`, { cause });
    this.name = 'TraceNotSavedError';
  }

  /** The database was unreachable (rather than refusing this one write). */
  get storeUnavailable(): boolean {
    return this.cause instanceof StoreUnavailableError;
  }
}
