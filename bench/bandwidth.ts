/**
 * `npm run bench:bandwidth`: this machine's memory read bandwidth (a 2 GiB buffer read by the
 * native kernels' thread pool, 1 and 2 threads interleaved, median and spread of BENCH_REPEATS >= 5),
 * and the decode bound it implies for each checkpoint shape on the native MXFP4 path
 * (bytes per token from nativeDecodeBytesPerToken). Writes bench/results/bandwidth.json, which
 * bench:peer reads to state decode as a fraction of the bound.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNativeKernels } from '../kernels/native';
import { TINY_PRESETS } from '../lib/model/config';
import { BANDWIDTH_RESULTS_FILE, median, nativeDecodeBytesPerToken, spread } from './common';

const REPEATS = Math.max(5, Number(process.env.BENCH_REPEATS ?? 5));
const BYTES = Number(process.env.BENCH_BANDWIDTH_BYTES ?? 2 ** 31);
const THREADS = [1, 2];

function main(): void {
  const load = loadNativeKernels();
  if (!load.ok) throw new Error(`bench:bandwidth needs the native kernels: ${load.reason}`);
  const native = load.kernels;
  const buffer = new Uint8Array(BYTES);
  for (let i = 0; i < buffer.length; i += 4096) buffer[i] = i & 0xff; // touch every page
  const samples = new Map<number, number[]>(THREADS.map((t) => [t, []]));
  for (let r = -1; r < REPEATS; r++) {
    for (let i = 0; i < THREADS.length; i++) {
      const threads = THREADS[(i + Math.max(r, 0)) % THREADS.length];
      native.setThreads(threads);
      const start = performance.now();
      native.readAll(buffer);
      const seconds = (performance.now() - start) / 1000;
      if (r >= 0) samples.get(threads)!.push(BYTES / seconds / 1e9); // round -1 warms up
    }
  }
  native.setThreads(1);
  const rows = THREADS.map((threads) => ({ threads, medianGBps: median(samples.get(threads)!), spread: spread(samples.get(threads)!), samplesGBps: samples.get(threads)! }));
  const best = Math.max(...rows.map((r) => r.medianGBps));
  const bounds = Object.entries(TINY_PRESETS).map(([preset, config]) => {
    const bytes = nativeDecodeBytesPerToken(config);
    return { preset, bytesPerToken: bytes, decodeBoundTokensPerSecond: (best * 1e9) / bytes.total };
  });
  console.log(`memory read bandwidth, ${(BYTES / 2 ** 30).toFixed(1)} GiB buffer, median of ${REPEATS} interleaved runs`);
  for (const row of rows) console.log(`  ${row.threads} thread(s): ${row.medianGBps.toFixed(1)} GB/s (spread ${(row.spread * 100).toFixed(0)}%)`);
  for (const bound of bounds) {
    console.log(`  ${bound.preset}: ${(bound.bytesPerToken.total / 1e9).toFixed(3)} GB of weights per decoded token -> at most ${bound.decodeBoundTokensPerSecond.toFixed(1)} tok/s`);
  }
  mkdirSync(path.dirname(BANDWIDTH_RESULTS_FILE), { recursive: true });
  const report = { machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', loadAverage: os.loadavg() }, bufferBytes: BYTES, repeats: REPEATS, rows, bestGBps: best, bounds };
  writeFileSync(BANDWIDTH_RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${BANDWIDTH_RESULTS_FILE}`);
}

main();
