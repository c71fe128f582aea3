/**
 * `npm run bench:bandwidth`: this machine's memory read bandwidth (a 2 GiB buffer read by the
 * native kernels' thread pool, 1 and 2 threads interleaved, median and spread of BENCH_REPEATS >= 5),
 * the native bf16 GEMV reading the same buffer as a bf16 matrix [rows, 2880] (lm_head and the
 * attention projections run that kernel), as a fraction of the plain read, and the decode bound
 * the read bandwidth implies for each checkpoint shape on the native MXFP4 path (bytes per token
 * from nativeDecodeBytesPerToken). Also the MXFP4 expert dot product (one thread: mxfp4MatVec
 * has no thread pool) on every SIMD instruction set the CPU has, with float and with q8 inputs (avx512 q8 is
 * the VNNI kernel where the CPU has VNNI, else the AVX2 one), over
 * the same buffer as an MXFP4 matrix [rows, 2880] (scale 2^0), as a fraction of the one-thread
 * read. Writes bench/results/bandwidth.json, which bench:peer reads to state decode as a fraction
 * of the bound.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNativeKernels, supportedIsas, type ExpertInputs, type Isa } from '../kernels/native';
import { TINY_PRESETS } from '../lib/model/config';
import { BANDWIDTH_RESULTS_FILE, median, nativeDecodeBytesPerToken, spread } from './common';

const REPEATS = Math.max(5, Number(process.env.BENCH_REPEATS ?? 5));
const BYTES = Number(process.env.BENCH_BANDWIDTH_BYTES ?? 2 ** 31);
const THREADS = [1, 2];
/** The GEMV's row width: gpt-oss-20b's hidden size. */
const GEMV_COLS = 2880;
type Probe = 'read' | 'bf16 GEMV';
const PROBES: Probe[] = ['read', 'bf16 GEMV'];
/** An MXFP4 row of GEMV_COLS: 16-byte blocks of 32 weights and one scale byte per block. */
const MXFP4_ROW_BYTES = (GEMV_COLS / 32) * 17;

function main(): void {
  const load = loadNativeKernels();
  if (!load.ok) throw new Error(`bench:bandwidth needs the native kernels: ${load.reason}`);
  const native = load.kernels;
  const buffer = new Uint8Array(BYTES);
  for (let i = 0; i < buffer.length; i += 4096) buffer[i] = i & 0xff; // touch every page
  const gemvRows = Math.floor(BYTES / 2 / GEMV_COLS);
  const weights = new Uint16Array(buffer.buffer, 0, gemvRows * GEMV_COLS);
  const x = Float32Array.from({ length: GEMV_COLS }, (_, i) => Math.sin(i));
  const out = new Float32Array(gemvRows);
  const run: Record<Probe, () => number> = {
    read: () => {
      native.readAll(buffer);
      return BYTES;
    },
    'bf16 GEMV': () => {
      native.bf16MatMul(weights, gemvRows, GEMV_COLS, x, 1, out);
      return weights.byteLength;
    },
  };
  const mxfp4Rows = Math.floor(BYTES / MXFP4_ROW_BYTES);
  const mxfp4Blocks = buffer.subarray(0, (mxfp4Rows * GEMV_COLS) / 2);
  const mxfp4Scales = new Uint8Array((mxfp4Rows * GEMV_COLS) / 32).fill(127);
  const vnni = native.hasAvx512Vnni();
  const mxfp4Probe = (isa: Isa, inputs: ExpertInputs) => ({
    name: `MXFP4 ${isa} ${inputs}${isa === 'avx512' && inputs === 'q8' ? (vnni ? ' (VNNI)' : ' (the AVX2 kernel)') : ''}`,
    run: () => {
      native.mxfp4MatVec(mxfp4Blocks, mxfp4Scales, mxfp4Rows, GEMV_COLS, x, isa, inputs);
      return mxfp4Blocks.byteLength + mxfp4Scales.byteLength;
    },
  });
  const kernelProbes = supportedIsas(native)
    .filter((isa) => isa !== 'scalar')
    .flatMap((isa) => (['f32', 'q8'] as const).map((inputs) => mxfp4Probe(isa, inputs)));
  const key = (probe: string, threads: number) => `${probe} ${threads}`;
  const cases = [
    ...PROBES.flatMap((probe) => THREADS.map((threads) => ({ name: probe, threads, run: run[probe] }))),
    ...kernelProbes.map((probe) => ({ ...probe, threads: 1 })),
  ];
  const samples = new Map<string, number[]>(cases.map((c) => [key(c.name, c.threads), []]));
  for (let r = -1; r < REPEATS; r++) {
    for (let i = 0; i < cases.length; i++) {
      const { name, threads, run: probe } = cases[(i + Math.max(r, 0)) % cases.length];
      native.setThreads(threads);
      const start = performance.now();
      const bytes = probe();
      const seconds = (performance.now() - start) / 1000;
      if (r >= 0) samples.get(key(name, threads))!.push(bytes / seconds / 1e9); // round -1 warms up
    }
  }
  native.setThreads(1);
  const summary = (probe: string, threadCounts = THREADS) =>
    threadCounts.map((threads) => {
      const values = samples.get(key(probe, threads))!;
      return { threads, medianGBps: median(values), spread: spread(values), samplesGBps: values };
    });
  const rows = summary('read');
  const gemv = summary('bf16 GEMV').map((row, i) => ({ ...row, fractionOfRead: row.medianGBps / rows[i].medianGBps }));
  const mxfp4 = kernelProbes.map(({ name }) => {
    const [row] = summary(name, [1]);
    return { kernel: name, ...row, fractionOfRead: row.medianGBps / rows[0].medianGBps };
  });
  const best = Math.max(...rows.map((r) => r.medianGBps));
  const bounds = Object.entries(TINY_PRESETS).map(([preset, config]) => {
    const bytes = nativeDecodeBytesPerToken(config);
    return { preset, bytesPerToken: bytes, decodeBoundTokensPerSecond: (best * 1e9) / bytes.total };
  });
  console.log(`memory read bandwidth, ${(BYTES / 2 ** 30).toFixed(1)} GiB buffer, median of ${REPEATS} interleaved runs`);
  for (const row of rows) console.log(`  ${row.threads} thread(s): ${row.medianGBps.toFixed(1)} GB/s (spread ${(row.spread * 100).toFixed(0)}%)`);
  console.log(`native bf16 GEMV [${gemvRows}, ${GEMV_COLS}] over the same buffer`);
  for (const row of gemv) console.log(`  ${row.threads} thread(s): ${row.medianGBps.toFixed(1)} GB/s (spread ${(row.spread * 100).toFixed(0)}%), ${(row.fractionOfRead * 100).toFixed(0)}% of the read`);
  console.log(`native MXFP4 dot [${mxfp4Rows}, ${GEMV_COLS}] over the same buffer, one thread`);
  for (const row of mxfp4) console.log(`  ${row.kernel}: ${row.medianGBps.toFixed(1)} GB/s (spread ${(row.spread * 100).toFixed(0)}%), ${(row.fractionOfRead * 100).toFixed(0)}% of the one-thread read`);
  for (const bound of bounds) {
    console.log(`  ${bound.preset}: ${(bound.bytesPerToken.total / 1e9).toFixed(3)} GB of weights per decoded token -> at most ${bound.decodeBoundTokensPerSecond.toFixed(1)} tok/s`);
  }
  mkdirSync(path.dirname(BANDWIDTH_RESULTS_FILE), { recursive: true });
  const report = { machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', loadAverage: os.loadavg() }, bufferBytes: BYTES, repeats: REPEATS, rows, bf16Gemv: gemv, mxfp4, bestGBps: best, bounds };
  writeFileSync(BANDWIDTH_RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${BANDWIDTH_RESULTS_FILE}`);
}

main();
