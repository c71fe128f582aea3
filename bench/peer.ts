/**
 * `npm run bench:peer`: cotscope (capture off, routing, routing plus attention) against llama.cpp
 * (node-llama-cpp), each at 1 and 2 threads, on the same weights: the generated checkpoint and
 * its GGUF export (MXFP4 experts, llama.cpp's native path; embedding, lm_head and attention
 * matrices as the checkpoint's BF16 bytes, which is what cotscope's native path reads). Runs are
 * interleaved (every engine once per round, the starting engine rotating); the median and the
 * spread ((max - min) / median) of BENCH_REPEATS (>= 5) rounds are reported. Peak memory is
 * measured per engine in a fresh child process. Decode is also stated as a fraction of the
 * bandwidth bound when bench/results/bandwidth.json (npm run bench:bandwidth) exists.
 * Writes bench/results/peer.json.
 *
 * 20b-shape: cotscope and llama.cpp files together (~28 GB) exceed this machine's memory, and
 * one llama.cpp instance of that model peaks at ~21 GB resident, so there each round opens one
 * group at a time (the cotscope engines, after reading the checkpoint back into the page cache;
 * llama.cpp at 1 thread; at 2), warms it up and runs each of its engines once, and routing plus attention is left out unless BENCH_20B_ATTENTION=1 (to keep
 * the run short: a capture mode's layer sessions hold no weights, all modes read the same mapped
 * bf16 bytes).
 *
 * "cotscope routing q8" is the lossy --expert-inputs q8 path: the experts' inputs rounded to 8-bit
 * blocks, as llama.cpp computes its MXFP4 experts.
 *
 * Environment: BENCH_REPEATS (5), BENCH_PROMPT_TOKENS (256; 64 for 20b-shape),
 * BENCH_NEW_TOKENS (64; 16 for 20b-shape), BENCH_PRESETS (tiny,small; add 20b-shape).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TINY_PRESETS, type TinyPreset } from '../lib/model/config';
import { openCheckpoint } from '../lib/model/checkpoint';
import { ensureGeneratedCheckpoint } from '../lib/model/generate';
import { exportGguf } from '../lib/model/gguf';
import { harmonyVocabulary } from '../lib/model/gguf-tokenizer';
import { loadRuntime } from '../lib/runtime/runtime';
import type { CaptureOptions, Runtime } from '../lib/runtime/types';
import { EXPERT_INPUTS, type ExpertInputs } from '../kernels/native';
import { BANDWIDTH_RESULTS_FILE, benchPromptIds, CAPTURE_MODES, median, nativeDecodeBytesPerToken, roundOrder, spread } from './common';
import { LlamaCppPeer } from '../tests/oracle/llamacpp-driver';

const REPEATS = Math.max(5, Number(process.env.BENCH_REPEATS ?? 5));
const PRESETS = (process.env.BENCH_PRESETS ?? 'tiny,small').split(',').filter(Boolean) as TinyPreset[];
const TWENTY_B = '20b-shape';
const THREAD_COUNTS = [1, 2];
/** New tokens of the 20b shape's warm-up runs (each group is reopened every round). */
const WARM_UP_TOKENS = 2;

/** Prompt and generated tokens per run: the 20b shape decodes a few tokens per second, so it gets fewer by default. */
function runLength(preset: TinyPreset): { promptTokens: number; newTokens: number; context: number } {
  const promptTokens = Number(process.env.BENCH_PROMPT_TOKENS ?? (preset === TWENTY_B ? 64 : 256));
  const newTokens = Number(process.env.BENCH_NEW_TOKENS ?? (preset === TWENTY_B ? 16 : 64));
  return { promptTokens, newTokens, context: promptTokens + newTokens + 8 };
}

type EngineName = string;
interface Sample { prefill: number; decode: number }
interface Row {
  preset: string;
  engine: EngineName;
  prefillTokensPerSecond: number;
  prefillSpread: number;
  decodeTokensPerSecond: number;
  decodeSpread: number;
  /** Decode as a fraction of the memory-bandwidth bound (cotscope rows, when bench:bandwidth ran). */
  decodeFractionOfBandwidthBound: number | null;
  peakRssMiB: number | null;
}

type Engine = { kind: 'cotscope'; capture: CaptureOptions; threads: number; expertInputs: ExpertInputs } | { kind: 'llama.cpp'; threads: number };

/** One loaded runtime per thread count and expert input format. */
const runtimeKey = (threads: number, expertInputs: ExpertInputs) => `${threads} ${expertInputs}`;

/** The engines benchmarked on a preset, by name. */
function enginesFor(preset: TinyPreset): Map<EngineName, Engine> {
  const engines = new Map<EngineName, Engine>();
  const withAttention = preset !== TWENTY_B || process.env.BENCH_20B_ATTENTION === '1';
  for (const threads of THREAD_COUNTS) {
    for (const [mode, capture] of Object.entries(CAPTURE_MODES)) {
      if (capture.attention && !withAttention) continue;
      engines.set(`cotscope ${mode} threads=${threads}`, { kind: 'cotscope', capture, threads, expertInputs: 'f32' });
    }
    // The lossy option that computes the experts as llama.cpp does (inputs rounded to Q8_0).
    engines.set(`cotscope routing q8 threads=${threads}`, { kind: 'cotscope', capture: CAPTURE_MODES.routing, threads, expertInputs: 'q8' });
  }
  for (const threads of THREAD_COUNTS) engines.set(`llama.cpp threads=${threads}`, { kind: 'llama.cpp', threads });
  return engines;
}


/** Generated checkpoint and its GGUF (MXFP4 experts), reused when already on disk. */
async function prepare(preset: TinyPreset): Promise<{ dir: string; gguf: string }> {
  const dir = path.join('models', preset);
  const { written } = await ensureGeneratedCheckpoint(dir, preset);
  const gguf = path.join('models', `${preset}.bf16.gguf`);
  if (written || !existsSync(gguf)) {
    const checkpoint = openCheckpoint(dir);
    try {
      exportGguf(checkpoint, harmonyVocabulary(), gguf, { experts: 'mxfp4', matrices: 'bf16' });
    } finally {
      checkpoint.close();
    }
  }
  return { dir, gguf };
}

async function runCotscope(runtime: Runtime, ids: number[], capture: CaptureOptions, newTokens: number): Promise<Sample> {
  const { timings } = await runtime.generate({ promptIds: ids, capture, stopTokens: [], sampling: { temperature: 0, maxNewTokens: newTokens, seed: 0, topP: 1 } });
  return { prefill: timings.prefillTokensPerSecond, decode: timings.decodeTokensPerSecond };
}

async function runLlama(peer: LlamaCppPeer, ids: number[], newTokens: number): Promise<Sample> {
  const { prefillMs, decodeMs, decoded } = await peer.timedRun(ids, newTokens);
  return { prefill: ((ids.length - 1) / prefillMs) * 1000, decode: (decoded / decodeMs) * 1000 };
}

/**
 * Reads a checkpoint's shards through the page cache: cotscope maps them, and a run after
 * llama.cpp's (which evicts them) would otherwise time page faults from disk, not decoding.
 */
function pageIn(dir: string): void {
  const buffer = Buffer.allocUnsafe(64 << 20);
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.safetensors'))) {
    const fd = openSync(path.join(dir, file), 'r');
    try {
      while (readSync(fd, buffer, 0, buffer.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

/** Runs one engine once in this process and prints its peak RSS (used through a child process). */
async function memoryProbe(preset: TinyPreset, name: EngineName): Promise<void> {
  const { dir, gguf } = await prepare(preset);
  const { promptTokens, newTokens, context } = runLength(preset);
  const ids = benchPromptIds(promptTokens);
  const engine = enginesFor(preset).get(name);
  if (!engine) throw new Error(`unknown engine ${name}`);
  if (engine.kind === 'cotscope') {
    const runtime = await loadRuntime(dir, { threads: engine.threads, maxSequence: context, expertInputs: engine.expertInputs });
    await runCotscope(runtime, ids, engine.capture, newTokens);
    await runtime.close();
  } else {
    const peer = await LlamaCppPeer.open(gguf, { threads: engine.threads, contextSize: context, exact: false });
    await runLlama(peer, ids, newTokens);
    await peer.dispose();
  }
  console.log(JSON.stringify({ peakRssMiB: peakRssMiB() }));
}

/**
 * This process's peak resident memory. VmHWM belongs to the address space created by exec; getrusage's
 * maxRSS is not used because Linux carries it over from the (large) parent that forked the probe.
 */
function peakRssMiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
  return status ? Number(status[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

function peakMemoryOf(preset: TinyPreset, engine: EngineName): number | null {
  try {
    const output = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--memory-probe', preset, engine], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(output.trim().split('\n').pop() ?? '{}').peakRssMiB ?? null;
  } catch (error) {
    console.error(`peak memory probe for ${preset} ${engine} failed: ${(error as Error).message}`);
    return null;
  }
}

/** Runs `names` interleaved for REPEATS rounds after one warm-up round; returns each engine's samples. */
async function interleaved(preset: TinyPreset, names: EngineName[], runOnce: (name: EngineName) => Promise<Sample>, samples: Map<EngineName, Sample[]>): Promise<void> {
  for (const name of names) await runOnce(name); // warm-up: sessions, first allocations, page cache
  for (let r = 0; r < REPEATS; r++) {
    for (const name of roundOrder(names, r)) samples.get(name)!.push(await runOnce(name));
    process.stderr.write(`${preset}: round ${r + 1}/${REPEATS} of ${names.join(', ')}\n`);
  }
}

/** The memory-bandwidth bound from bench:bandwidth, if it has run on this machine. */
function bandwidthBound(preset: TinyPreset): number | null {
  if (!existsSync(BANDWIDTH_RESULTS_FILE)) return null;
  const { bestGBps } = JSON.parse(readFileSync(BANDWIDTH_RESULTS_FILE, 'utf8')) as { bestGBps: number };
  return (bestGBps * 1e9) / nativeDecodeBytesPerToken(TINY_PRESETS[preset]).total;
}

async function benchPreset(preset: TinyPreset): Promise<Row[]> {
  const { dir, gguf } = await prepare(preset);
  const { promptTokens, newTokens, context } = runLength(preset);
  const ids = benchPromptIds(promptTokens);
  const engines = enginesFor(preset);
  const names = [...engines.keys()];
  const samples = new Map<EngineName, Sample[]>(names.map((e) => [e, []]));
  const runtimes = new Map<string, Runtime>();
  const peers = new Map<number, LlamaCppPeer>();
  const runOnce = (name: EngineName, tokens = newTokens) => {
    const engine = engines.get(name)!;
    return engine.kind === 'cotscope' ? runCotscope(runtimes.get(runtimeKey(engine.threads, engine.expertInputs))!, ids, engine.capture, tokens) : runLlama(peers.get(engine.threads)!, ids, tokens);
  };
  const openCotscope = async () => {
    for (const threads of THREAD_COUNTS) {
      for (const expertInputs of EXPERT_INPUTS) runtimes.set(runtimeKey(threads, expertInputs), await loadRuntime(dir, { threads, maxSequence: context, expertInputs }));
    }
  };
  const openLlama = async (threadCounts: readonly number[]) => {
    for (const threads of threadCounts) peers.set(threads, await LlamaCppPeer.open(gguf, { threads, contextSize: context, exact: false }));
  };
  const report = (group: EngineName[]) => {
    for (const name of group) {
      const decode = samples.get(name)!.map((x) => x.decode);
      process.stderr.write(`${preset}: ${name}: decode median ${median(decode).toFixed(2)} tok/s, spread ${(spread(decode) * 100).toFixed(0)}%, samples ${decode.map((d) => d.toFixed(2)).join(' ')}\n`);
    }
  };
  const closeAll = async () => {
    for (const runtime of runtimes.values()) await runtime.close();
    for (const peer of peers.values()) await peer.dispose();
    runtimes.clear();
    peers.clear();
  };
  if (preset === TWENTY_B) {
    // One engine's files at a time (both together exceed memory): each round opens every group in
    // turn (the cotscope engines, llama.cpp at 1 thread, at 2; the first group rotating), warms each
    // engine up with a short run (which also pages its weights back in) and runs each once, so a
    // change of load during the run reaches every engine alike.
    const cotscope = names.filter((n) => engines.get(n)!.kind === 'cotscope');
    const groups: { names: EngineName[]; open: () => Promise<void> }[] = [
      { names: cotscope, open: async () => { pageIn(dir); await openCotscope(); } },
      ...THREAD_COUNTS.map((threads) => ({ names: [`llama.cpp threads=${threads}`], open: () => openLlama([threads]) })),
    ];
    for (let r = 0; r < REPEATS; r++) {
      for (const group of roundOrder(groups, r)) {
        await group.open();
        for (const name of group.names) await runOnce(name, WARM_UP_TOKENS);
        for (const name of roundOrder(group.names, r)) samples.get(name)!.push(await runOnce(name));
        await closeAll();
      }
      process.stderr.write(`${preset}: round ${r + 1}/${REPEATS}\n`);
    }
    report(names);
  } else {
    await openCotscope();
    await openLlama(THREAD_COUNTS);
    await interleaved(preset, names, runOnce, samples);
    report(names);
  }
  await closeAll();

  const bound = bandwidthBound(preset);
  return names.map((engine) => {
    const decode = samples.get(engine)!.map((s) => s.decode);
    const prefill = samples.get(engine)!.map((s) => s.prefill);
    return {
      preset,
      engine,
      prefillTokensPerSecond: median(prefill),
      prefillSpread: spread(prefill),
      decodeTokensPerSecond: median(decode),
      decodeSpread: spread(decode),
      decodeFractionOfBandwidthBound: bound && engine.startsWith('cotscope') ? median(decode) / bound : null,
      peakRssMiB: peakMemoryOf(preset, engine),
    };
  });
}

function ratioTable(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const preset of new Set(rows.map((r) => r.preset))) {
    const of = (engine: EngineName) => rows.find((r) => r.preset === preset && r.engine === engine)!;
    lines.push(`\n${preset}`);
    const percent = (x: number) => `${(x * 100).toFixed(0)}%`;
    lines.push(`  ${'engine'.padEnd(36)} ${'prefill tok/s (spread)'.padStart(23)} ${'decode tok/s (spread)'.padStart(22)} ${'of bound'.padStart(9)} ${'peak MiB'.padStart(9)}`);
    for (const row of rows.filter((r) => r.preset === preset)) {
      lines.push(
        `  ${row.engine.padEnd(36)} ${`${row.prefillTokensPerSecond.toFixed(1)} (${percent(row.prefillSpread)})`.padStart(23)} ${`${row.decodeTokensPerSecond.toFixed(2)} (${percent(row.decodeSpread)})`.padStart(22)} ${(row.decodeFractionOfBandwidthBound === null ? '-' : percent(row.decodeFractionOfBandwidthBound)).padStart(9)} ${(row.peakRssMiB?.toFixed(0) ?? '-').padStart(9)}`,
      );
    }
    for (const threads of THREAD_COUNTS) {
      const peer = `llama.cpp threads=${threads}`;
      for (const row of rows.filter((r) => r.preset === preset && r.engine.startsWith('cotscope') && r.engine.endsWith(`threads=${threads}`))) {
        const prefill = row.prefillTokensPerSecond / of(peer).prefillTokensPerSecond;
        const decode = row.decodeTokensPerSecond / of(peer).decodeTokensPerSecond;
        lines.push(`  ${row.engine} / ${peer}: prefill ${prefill.toFixed(2)}x, decode ${decode.toFixed(2)}x`);
      }
    }
    const routing = (threads: number) => of(`cotscope routing threads=${threads}`).decodeTokensPerSecond / of(`cotscope off threads=${threads}`).decodeTokensPerSecond;
    lines.push(`  routing capture decode overhead: ${THREAD_COUNTS.map((t) => `${percent(1 - routing(t))} at ${t} thread(s)`).join(', ')}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const preset of PRESETS) {
    if (!Object.hasOwn(TINY_PRESETS, preset)) throw new Error(`unknown preset "${preset}" in BENCH_PRESETS (${Object.keys(TINY_PRESETS).join(', ')})`);
    rows.push(...(await benchPreset(preset)));
  }
  const report = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', totalMemGiB: os.totalmem() / 2 ** 30, node: process.version, loadAverageAtEnd: os.loadavg() },
    settings: { repeats: REPEATS, runLength: Object.fromEntries(PRESETS.map((p) => [p, runLength(p)])), llamaCppWeights: 'mxfp4 experts, bf16 matrices as stored', llamaCppKvCache: 'default (f16), flash attention default' },
    rows,
    ratios: rows.filter((r) => r.engine.startsWith('cotscope')).map((row) => {
      const peer = `llama.cpp ${row.engine.slice(row.engine.lastIndexOf('threads='))}`;
      const other = rows.find((r) => r.preset === row.preset && r.engine === peer)!;
      return { preset: row.preset, engine: row.engine, peer, prefill: row.prefillTokensPerSecond / other.prefillTokensPerSecond, decode: row.decodeTokensPerSecond / other.decodeTokensPerSecond };
    }),
  };
  console.log(`cotscope vs llama.cpp at equal threads (median and spread of ${REPEATS} interleaved rounds; ${PRESETS.map((p) => `${p}: ${runLength(p).promptTokens}-token prompt, ${runLength(p).newTokens} new tokens`).join('; ')})`);
  console.log(ratioTable(rows).join('\n'));
  mkdirSync(path.join('bench', 'results'), { recursive: true });
  writeFileSync(path.join('bench', 'results', 'peer.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('wrote bench/results/peer.json');
}

const probeAt = process.argv.indexOf('--memory-probe');
if (probeAt >= 0) await memoryProbe(process.argv[probeAt + 1] as TinyPreset, process.argv[probeAt + 2] as EngineName);
else await main();
