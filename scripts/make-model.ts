/**
 * Writes a generated (random-weight) gpt-oss checkpoint for tests, demos and benchmarks.
 *   tsx scripts/make-model.ts tiny|small|20b-shape [--out DIR] [--seed N] [--shards N]
 * Skips the work when the folder already holds the same preset and seed.
 */
import path from 'node:path';
import { statSync, readdirSync } from 'node:fs';
import { TINY_PRESETS, type TinyPreset } from '../lib/model/config';
import { ensureGeneratedCheckpoint } from '../lib/model/generate';

const USAGE = 'usage: tsx scripts/make-model.ts tiny|small|20b-shape [--out DIR] [--seed N] [--shards N]';

function parseArgs(argv: string[]): { preset: TinyPreset; out: string; seed: number; shards: number } {
  const [preset, ...rest] = argv;
  if (!preset || !Object.hasOwn(TINY_PRESETS, preset)) throw new Error(`unknown preset ${JSON.stringify(preset)}\n${USAGE}`);
  const options = new Map<string, string>();
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (!['--out', '--seed', '--shards'].includes(flag) || value === undefined) throw new Error(`bad argument ${JSON.stringify(flag)}\n${USAGE}`);
    options.set(flag, value);
  }
  const integer = (flag: string, fallback: number) => {
    const value = Number(options.get(flag) ?? fallback);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${flag} must be a non-negative integer\n${USAGE}`);
    return value;
  };
  return { preset: preset as TinyPreset, out: options.get('--out') ?? path.join('models', preset), seed: integer('--seed', 0), shards: integer('--shards', 2) };
}

function folderMegabytes(dir: string): string {
  const bytes = readdirSync(dir).reduce((sum, file) => sum + statSync(path.join(dir, file)).size, 0);
  return (bytes / 1e6).toFixed(1);
}

async function main(): Promise<void> {
  const { preset, out, seed, shards } = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const { written } = await ensureGeneratedCheckpoint(out, preset, { seed, shards });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    written
      ? `wrote generated ${preset} checkpoint (seed ${seed}) to ${out}: ${folderMegabytes(out)} MB in ${seconds} s`
      : `${out} already holds the generated ${preset} checkpoint with seed ${seed}; nothing to do`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
