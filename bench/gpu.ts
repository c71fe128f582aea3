/**
 * `npm run bench:gpu`: prefill and decode tokens/s on the WebGPU adapter found, with capture off,
 * routing, and routing plus attention, against the CPU provider measured in the same run
 * (interleaved, median and spread of REPEATS). Presets: BENCH_PRESETS (default "tiny,small").
 * On a machine without a GPU the adapter is Mesa's llvmpipe (software): the figures then say how the
 * GPU path behaves, not how fast a GPU is.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { webGpuAdapter, type Device } from '../kernels/device';
import { TINY_PRESETS, type TinyPreset } from '../lib/model/config';
import { ensureGeneratedCheckpoint } from '../lib/model/generate';
import { loadRuntime } from '../lib/runtime/runtime';
import type { Runtime } from '../lib/runtime/types';
import { benchPromptIds, CAPTURE_MODES, median, spread } from './common';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const PROMPT_TOKENS = Number(process.env.BENCH_PROMPT_TOKENS ?? 128);
const NEW_TOKENS = Number(process.env.BENCH_NEW_TOKENS ?? 16);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const PRESETS = (process.env.BENCH_PRESETS ?? 'tiny,small').split(',') as TinyPreset[];
const DEVICES: Device[] = ['cpu', 'webgpu'];

interface Row {
  preset: TinyPreset;
  capture: string;
  device: Device;
  prefill: number[];
  decode: number[];
}

async function benchPreset(preset: TinyPreset): Promise<Row[]> {
  if (!Object.hasOwn(TINY_PRESETS, preset)) throw new Error(`unknown preset ${preset}`);
  const dir = path.join('models', preset);
  await ensureGeneratedCheckpoint(dir, preset);
  const runtimes = new Map<Device, Runtime>();
  for (const device of DEVICES) runtimes.set(device, await loadRuntime(dir, { threads: THREADS, device, maxSequence: PROMPT_TOKENS + NEW_TOKENS + 1 }));
  const ids = benchPromptIds(PROMPT_TOKENS);
  const rows: Row[] = Object.keys(CAPTURE_MODES).flatMap((capture) => DEVICES.map((device) => ({ preset, capture, device, prefill: [], decode: [] })));
  const once = (row: Row) =>
    runtimes.get(row.device)!.generate({
      promptIds: ids,
      capture: CAPTURE_MODES[row.capture as keyof typeof CAPTURE_MODES],
      sampling: { temperature: 0, maxNewTokens: NEW_TOKENS, seed: 0, topP: 1 },
      stopTokens: [],
    });
  for (const row of rows) await once(row); // warm-up: sessions, shader compilation, first allocations
  for (let r = 0; r < REPEATS; r++) {
    for (const row of rows) {
      const { timings } = await once(row);
      row.prefill.push(timings.prefillTokensPerSecond);
      row.decode.push(timings.decodeTokensPerSecond);
    }
  }
  for (const runtime of runtimes.values()) await runtime.close();
  return rows;
}

const adapter = await webGpuAdapter();
const rows: Row[] = [];
for (const preset of PRESETS) rows.push(...(await benchPreset(preset)));

const load = os.loadavg().map((v) => v.toFixed(2)).join(' ');
console.log(`GPU benchmark on ${adapter.name}; CPU provider with ${THREADS} thread(s) in the same run`);
console.log(`prompt ${PROMPT_TOKENS} tokens, ${NEW_TOKENS} new tokens, median of ${REPEATS} (spread = (max-min)/median), interleaved; load average ${load}`);
console.log('preset  capture            device   prefill tok/s (spread)   decode tok/s (spread)   webgpu/cpu prefill  decode');
const fmt = (values: number[]) => `${median(values).toFixed(1).padStart(9)} (${(spread(values) * 100).toFixed(0).padStart(3)}%)`;
for (const row of rows) {
  const peer = rows.find((r) => r.preset === row.preset && r.capture === row.capture && r.device === 'cpu')!;
  const ratio = (key: 'prefill' | 'decode') => (median(row[key]) / median(peer[key])).toFixed(3);
  const ratios = row.device === 'webgpu' ? `${ratio('prefill').padStart(18)}  ${ratio('decode')}` : '';
  console.log(`${row.preset.padEnd(7)} ${row.capture.padEnd(18)} ${row.device.padEnd(8)} ${fmt(row.prefill).padStart(22)} ${fmt(row.decode).padStart(23)} ${ratios}`);
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/gpu.json',
  JSON.stringify({ date: new Date().toISOString(), adapter, load: os.loadavg(), promptTokens: PROMPT_TOKENS, newTokens: NEW_TOKENS, threads: THREADS, repeats: REPEATS, rows }, null, 2),
);
