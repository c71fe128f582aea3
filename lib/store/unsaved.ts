/**
 * Where a finished generation goes when the database cannot take it: a `run --json` document in
 * `<data folder>/unsaved/<trace id>.json`, so an unreachable database never costs the generation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toRunJson } from '../trace/json';
import type { RunResult } from '../trace/types';
import { defaultDataDir } from './backend';

/** Writes the run and returns the file's path. */
export function keepUnsavedRun(traceId: string, result: RunResult, dataDir = defaultDataDir()): string {
  const folder = join(dataDir, 'unsaved');
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `${traceId}.json`);
  writeFileSync(file, `${JSON.stringify({ id: traceId, ...toRunJson(result) })}\n`);
  return file;
}
