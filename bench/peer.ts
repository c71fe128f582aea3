/**
 * `npm run bench:peer`: cotscope (capture off, routing, routing plus attention; capture off again with
 * 2 intra-op threads) against llama.cpp
 * (node-llama-cpp, threads 1 and 2) on the same weights: the generated checkpoint and its GGUF
 * export (MXFP4 experts, llama.cpp's native path). Runs are interleaved A/B, the median of
 * BENCH_REPEATS (>= 5) is reported. Peak memory is measured per engine in a fresh child process
 * (both engines share this process during the timed runs). Writes bench/results/peer.json.
 *
 * Environment: BENCH_REPEATS (5), BENCH_PROMPT_TOKENS (256), BENCH_NEW_TOKENS (64),
 * BENCH_PRESETS (tiny,small).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GPT_OSS_20B, TINY_PRESETS, type GptOssConfig, type TinyPreset } from '../lib/model/config';
import { openCheckpoint } from '../lib/model/checkpoint';
import { ensureGeneratedCheckpoint } from '../lib/model/generate';
import { exportGguf } from '../lib/model/gguf';
import { harmonyVocabulary } from '../lib/model/gguf-tokenizer';
import { loadRuntime } from '../lib/runtime/runtime';
import type { CaptureOptions, Runtime } from '../lib/runtime/types';
import { benchPromptIds, CAPTURE_MODES, median } from './common';
import { LlamaCppPeer } from '../tests/oracle/llamacpp-driver';

const REPEATS = Math.max(5, Number(process.env.BENCH_REPEATS ?? 5));
const PROMPT_TOKENS = Number(process.env.BENCH_PROMPT_TOKENS ?? 256);
const NEW_TOKENS = Number(process.env.BENCH_NEW_TOKENS ?? 64);
const PRESETS = (process.env.BENCH_PRESETS ?? 'tiny,small').split(',').filter(Boolean) as TinyPreset[];
const CONTEXT = PROMPT_TOKENS + NEW_TOKENS + 8;

type EngineName = 'cotscope off' | 'cotscope routing' | 'cotscope routing+attention' | 'cotscope off threads=2' | 'llama.cpp threads=1' | 'llama.cpp threads=2';
interface Sample { prefill: number; decode: number }
interface Row {
  preset: string;
  engine: EngineName;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  peakRssMiB: number | null;
}

interface CotscopeEngine { capture: CaptureOptions; threads: number }
/** The capture modes with one intra-op thread (as llama.cpp threads=1), and capture off with two. */
const CAPTURES: Record<string, CotscopeEngine> = {
  ...Object.fromEntries(Object.entries(CAPTURE_MODES).map(([mode, capture]) => [`cotscope ${mode}`, { capture, threads: 1 }])),
  'cotscope off threads=2': { capture: CAPTURE_MODES.off, threads: 2 },
};
const LLAMA_THREADS: Record<string, number> = { 'llama.cpp threads=1': 1, 'llama.cpp threads=2': 2 };
const ENGINES = [...Object.keys(CAPTURES), ...Object.keys(LLAMA_THREADS)] as EngineName[];


/** Generated checkpoint and its GGUF (MXFP4 experts), reused when already on disk. */
async function prepare(preset: TinyPreset): Promise<{ dir: string; gguf: string }> {
  const dir = path.join('models', preset);
  const { written } = await ensureGeneratedCheckpoint(dir, preset);
  const gguf = path.join('models', `${preset}.gguf`);
  if (written || !existsSync(gguf)) {
    const checkpoint = openCheckpoint(dir);
    try {
      exportGguf(checkpoint, harmonyVocabulary(), gguf, { experts: 'mxfp4' });
    } finally {
      checkpoint.close();
    }
  }
  return { dir, gguf };
}

async function runCotscope(runtime: Runtime, ids: number[], capture: CaptureOptions): Promise<Sample> {
  const { timings } = await runtime.generate({ promptIds: ids, capture, stopTokens: [], sampling: { temperature: 0, maxNewTokens: NEW_TOKENS, seed: 0, topP: 1 } });
  return { prefill: timings.prefillTokensPerSecond, decode: timings.decodeTokensPerSecond };
}

async function runLlama(peer: LlamaCppPeer, ids: number[]): Promise<Sample> {
  const { prefillMs, decodeMs, decoded } = await peer.timedRun(ids, NEW_TOKENS);
  return { prefill: ((ids.length - 1) / prefillMs) * 1000, decode: (decoded / decodeMs) * 1000 };
}

/** Runs one engine once in this process and prints its peak RSS (used through a child process). */
async function memoryProbe(preset: TinyPreset, engine: EngineName): Promise<void> {
  const { dir, gguf } = await prepare(preset);
  const ids = benchPromptIds(PROMPT_TOKENS);
  if (engine in CAPTURES) {
    const runtime = await loadRuntime(dir, { threads: CAPTURES[engine].threads, maxSequence: CONTEXT });
    await runCotscope(runtime, ids, CAPTURES[engine].capture);
    await runtime.close();
  } else {
    const peer = await LlamaCppPeer.open(gguf, { threads: LLAMA_THREADS[engine], contextSize: CONTEXT, exact: false });
    await runLlama(peer, ids);
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

async function benchPreset(preset: TinyPreset): Promise<Row[]> {
  const { dir, gguf } = await prepare(preset);
  const ids = benchPromptIds(PROMPT_TOKENS);
  const runtimes = new Map<number, Runtime>();
  for (const { threads } of Object.values(CAPTURES)) if (!runtimes.has(threads)) runtimes.set(threads, await loadRuntime(dir, { threads, maxSequence: CONTEXT }));
  const peers = new Map<EngineName, LlamaCppPeer>();
  for (const [engine, threads] of Object.entries(LLAMA_THREADS)) peers.set(engine as EngineName, await LlamaCppPeer.open(gguf, { threads, contextSize: CONTEXT, exact: false }));
  const runOnce = (engine: EngineName) =>
    engine in CAPTURES ? runCotscope(runtimes.get(CAPTURES[engine].threads)!, ids, CAPTURES[engine].capture) : runLlama(peers.get(engine)!, ids);

  const samples = new Map<EngineName, Sample[]>(ENGINES.map((e) => [e, []]));
  for (const engine of ENGINES) await runOnce(engine); // warm-up: sessions, first allocations
  for (let r = 0; r < REPEATS; r++) {
    // Interleaved A/B: every engine once per round, the starting engine rotating each round.
    for (let i = 0; i < ENGINES.length; i++) {
      const engine = ENGINES[(i + r) % ENGINES.length];
      samples.get(engine)!.push(await runOnce(engine));
    }
    process.stderr.write(`${preset}: round ${r + 1}/${REPEATS}\n`);
  }
  for (const runtime of runtimes.values()) await runtime.close();
  for (const peer of peers.values()) await peer.dispose();

  return ENGINES.map((engine) => ({
    preset,
    engine,
    prefillTokensPerSecond: median(samples.get(engine)!.map((s) => s.prefill)),
    decodeTokensPerSecond: median(samples.get(engine)!.map((s) => s.decode)),
    peakRssMiB: peakMemoryOf(preset, engine),
  }));
}

/** Whether a random gpt-oss-20b-shaped checkpoint can run here; the reason when it cannot. */
function twentyBFeasibility(config: GptOssConfig): { runnable: boolean; reason: string } {
  const expertWeights = config.numLayers * config.numExperts * 3 * config.hiddenSize * config.intermediateSize;
  const denseWeights = 2 * config.vocabSize * config.hiddenSize; // embedding and lm_head, float32
  // int8 expert values plus one float scale per block of 32 (the runtime's default QMoE path).
  const cotscopeGiB = (expertWeights * (1 + 4 / 32) + denseWeights * 4) / 2 ** 30;
  const totalGiB = os.totalmem() / 2 ** 30;
  if (cotscopeGiB > totalGiB * 0.8) {
    return {
      runnable: false,
      reason: `cotscope's runtime holds int8 experts and float32 embedding/lm_head: ${cotscopeGiB.toFixed(0)} GiB for the gpt-oss-20b shape, more than 80% of this machine's ${totalGiB.toFixed(0)} GiB`,
    };
  }
  return { runnable: true, reason: '' };
}

function ratioTable(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const preset of new Set(rows.map((r) => r.preset))) {
    const of = (engine: EngineName) => rows.find((r) => r.preset === preset && r.engine === engine)!;
    lines.push(`\n${preset}`);
    lines.push(`  ${'engine'.padEnd(28)} ${'prefill tok/s'.padStart(14)} ${'decode tok/s'.padStart(13)} ${'peak MiB'.padStart(9)}`);
    for (const row of rows.filter((r) => r.preset === preset)) {
      lines.push(`  ${row.engine.padEnd(28)} ${row.prefillTokensPerSecond.toFixed(0).padStart(14)} ${row.decodeTokensPerSecond.toFixed(1).padStart(13)} ${(row.peakRssMiB?.toFixed(0) ?? '-').padStart(9)}`);
    }
    for (const peer of Object.keys(LLAMA_THREADS) as EngineName[]) {
      for (const engine of Object.keys(CAPTURES) as EngineName[]) {
        const prefill = of(engine).prefillTokensPerSecond / of(peer).prefillTokensPerSecond;
        const decode = of(engine).decodeTokensPerSecond / of(peer).decodeTokensPerSecond;
        lines.push(`  ${engine} / ${peer}: prefill ${prefill.toFixed(2)}x, decode ${decode.toFixed(2)}x`);
      }
    }
  }
  return lines;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const preset of PRESETS) {
    if (!Object.hasOwn(TINY_PRESETS, preset)) throw new Error(`unknown preset "${preset}" in BENCH_PRESETS (tiny, small)`);
    rows.push(...(await benchPreset(preset)));
  }
  const twentyB = twentyBFeasibility(GPT_OSS_20B);
  const report = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', totalMemGiB: os.totalmem() / 2 ** 30, node: process.version },
    settings: { repeats: REPEATS, promptTokens: PROMPT_TOKENS, newTokens: NEW_TOKENS, cotscopeThreads: 'per engine name (default 1)', llamaCppExperts: 'mxfp4', llamaCppKvCache: 'default (f16), flash attention default' },
    rows,
    ratios: rows.filter((r) => r.engine.startsWith('cotscope')).flatMap((row) =>
      (Object.keys(LLAMA_THREADS) as EngineName[]).map((peer) => {
        const other = rows.find((r) => r.preset === row.preset && r.engine === peer)!;
        return { preset: row.preset, engine: row.engine, peer, prefill: row.prefillTokensPerSecond / other.prefillTokensPerSecond, decode: row.decodeTokensPerSecond / other.decodeTokensPerSecond };
      }),
    ),
    gptOss20bShape: twentyB.runnable ? { ran: false, reason: 'not attempted by default (BENCH_PRESETS)' } : { ran: false, reason: twentyB.reason },
  };
  console.log(`cotscope vs llama.cpp (median of ${REPEATS} interleaved runs, ${PROMPT_TOKENS}-token prompt, ${NEW_TOKENS} new tokens)`);
  console.log(ratioTable(rows).join('\n'));
  console.log(`\ngpt-oss-20b shape: ${report.gptOss20bShape.reason}`);
  mkdirSync(path.join('bench', 'results'), { recursive: true });
  writeFileSync(path.join('bench', 'results', 'peer.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('wrote bench/results/peer.json');
}

const probeAt = process.argv.indexOf('--memory-probe');
if (probeAt >= 0) await memoryProbe(process.argv[probeAt + 1] as TinyPreset, process.argv[probeAt + 2] as EngineName);
else await main();
