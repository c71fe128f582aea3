/**
 * `npm run bench:runtime`: prefill and decode tokens/s of the runtime for the generated tiny and
 * small checkpoints, with capture off, routing, and routing plus attention; capture overhead in
 * percent against capture off measured in the same run (interleaved, median of REPEATS).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureGeneratedCheckpoint } from '../lib/model/generate';
import { SeededRandom } from '../lib/runtime/sampler';
import { loadRuntime } from '../lib/runtime/runtime';
import type { CaptureOptions } from '../lib/runtime/types';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const PROMPT_TOKENS = Number(process.env.BENCH_PROMPT_TOKENS ?? 256);
const NEW_TOKENS = Number(process.env.BENCH_NEW_TOKENS ?? 64);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);

const modes: Array<{ name: string; capture: CaptureOptions }> = [
  { name: 'off', capture: { routing: false, attention: false } },
  { name: 'routing', capture: { routing: true, attention: false } },
  { name: 'routing+attention', capture: { routing: true, attention: true, attentionTopK: 8 } },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function promptIds(count: number): number[] {
  const random = new SeededRandom(42);
  return Array.from({ length: count }, () => Math.floor(random.next() * 199998));
}

async function benchPreset(preset: 'tiny' | 'small') {
  const dir = path.join('models', preset);
  await ensureGeneratedCheckpoint(dir, preset);
  const runtime = await loadRuntime(dir, { threads: THREADS });
  const ids = promptIds(PROMPT_TOKENS);
  const samples = new Map(modes.map((m) => [m.name, { prefill: [] as number[], decode: [] as number[] }]));
  const once = async (capture: CaptureOptions) =>
    runtime.generate({ promptIds: ids, capture, sampling: { temperature: 0, maxNewTokens: NEW_TOKENS, seed: 0, topP: 1 } });
  for (const mode of modes) await once(mode.capture); // warm-up: session creation and first-run allocations
  for (let r = 0; r < REPEATS; r++) {
    for (const mode of modes) {
      const { timings } = await once(mode.capture);
      samples.get(mode.name)!.prefill.push(timings.prefillTokensPerSecond);
      samples.get(mode.name)!.decode.push(timings.decodeTokensPerSecond);
    }
  }
  await runtime.close();
  const base = samples.get('off')!;
  return modes.map((mode) => {
    const s = samples.get(mode.name)!;
    const prefill = median(s.prefill);
    const decode = median(s.decode);
    return {
      preset,
      capture: mode.name,
      prefillTokensPerSecond: prefill,
      decodeTokensPerSecond: decode,
      prefillOverheadPercent: (median(base.prefill) / prefill - 1) * 100,
      decodeOverheadPercent: (median(base.decode) / decode - 1) * 100,
    };
  });
}

const rows = [];
for (const preset of ['tiny', 'small'] as const) rows.push(...(await benchPreset(preset)));
console.log(`runtime benchmark: prompt ${PROMPT_TOKENS} tokens, ${NEW_TOKENS} new tokens, ${THREADS} thread(s), median of ${REPEATS}, interleaved`);
console.log('preset  capture             prefill tok/s  decode tok/s  overhead prefill  overhead decode');
for (const r of rows) {
  console.log(
    `${r.preset.padEnd(7)} ${r.capture.padEnd(19)} ${r.prefillTokensPerSecond.toFixed(1).padStart(13)} ${r.decodeTokensPerSecond.toFixed(1).padStart(13)} ` +
      `${(r.capture === 'off' ? '-' : `${r.prefillOverheadPercent.toFixed(1)}%`).padStart(16)} ${(r.capture === 'off' ? '-' : `${r.decodeOverheadPercent.toFixed(1)}%`).padStart(16)}`,
  );
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/runtime.json', JSON.stringify({ date: new Date().toISOString(), promptTokens: PROMPT_TOKENS, newTokens: NEW_TOKENS, threads: THREADS, repeats: REPEATS, rows }, null, 2));
