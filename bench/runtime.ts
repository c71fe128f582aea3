/**
 * `npm run bench:runtime`: prefill and decode tokens/s of the runtime for the generated tiny and
 * small checkpoints, with capture off, routing, and routing plus attention; capture overhead in
 * percent against capture off measured in the same run (interleaved, median of REPEATS).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureGeneratedCheckpoint } from '../lib/model/generate';
import { loadRuntime } from '../lib/runtime/runtime';
import { benchPromptIds, CAPTURE_MODES, median } from './common';
import type { CaptureOptions } from '../lib/runtime/types';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const PROMPT_TOKENS = Number(process.env.BENCH_PROMPT_TOKENS ?? 256);
const NEW_TOKENS = Number(process.env.BENCH_NEW_TOKENS ?? 64);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);

const modes = Object.entries(CAPTURE_MODES).map(([name, capture]) => ({ name, capture }));

async function benchPreset(preset: 'tiny' | 'small') {
  const dir = path.join('models', preset);
  await ensureGeneratedCheckpoint(dir, preset);
  const runtime = await loadRuntime(dir, { threads: THREADS });
  const ids = benchPromptIds(PROMPT_TOKENS);
  const samples = new Map(modes.map((m) => [m.name, { prefill: [] as number[], decode: [] as number[] }]));
  const once = async (capture: CaptureOptions) =>
    runtime.generate({ promptIds: ids, capture, sampling: { temperature: 0, maxNewTokens: NEW_TOKENS, seed: 0, topP: 1 }, stopTokens: [] });
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
