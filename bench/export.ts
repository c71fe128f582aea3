/**
 * bench:export: peak RSS and throughput of exporting 1,000,000 tokens of the gpt-oss-20b routing
 * shape (24 layers, top-4 of 32 experts) as Parquet, with the JSON Lines writer measured in the
 * same run as the peer. Each measurement is its own child process (its own peak RSS); rows are
 * generated in the export stream (250 traces of 4,000 tokens, built the way rowFromTrace builds
 * them), so the figure is the writers', not the store's reads. Output goes to a temp file. CPU
 * seconds are printed beside wall time: on a shared machine they move less with the load.
 *
 *   npm run bench:export [-- --repeats 3 --tokens 1000000]
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { datasetColumns, DEFAULT_INCLUDE } from '../lib/datasets/columns';
import { DatasetParquetWriter } from '../lib/datasets/parquet-writer';
import type { DatasetRow } from '../lib/datasets/rows';
import { NestedTensor, streamSink, writeJson } from '../lib/trace/json-stream';
import { mulberry32 } from '../lib/model/generate';
import { median, spread } from './common';

const LAYERS = 24;
const EXPERTS = 32;
const TOP_K = 4;
const TRACE_TOKENS = 4000;
const ROW_GROUP_TOKENS = 32768;

type Writer = 'parquet' | 'jsonl';

function syntheticRow(index: number): DatasetRow {
  const random = mulberry32(index + 1);
  const values = TRACE_TOKENS * LAYERS * TOP_K;
  const experts = new Uint8Array(values);
  const weights = new Float32Array(values);
  for (let i = 0; i < values; i++) { experts[i] = Math.floor(random() * EXPERTS); weights[i] = random(); }
  const promptLength = 100;
  const analysisEnd = 3000;
  return {
    id: `bench-${index}`, status: 'complete', model: 'gpt-oss-20b-shape', model_config_hash: 'bench',
    model_shape: { num_layers: LAYERS, num_experts: EXPERTS, experts_per_token: TOP_K, num_heads: 64, hidden_size: 2880, vocab_size: 201088 },
    prompt_id: `p${index}`, reasoning_effort: 'medium', sample_index: 0, sampling: { temperature: 1, top_p: 1, seed: BigInt(index), max_new_tokens: 4096 },
    stop_reason: 'max_tokens', created_at: new Date(Date.UTC(2026, 0, 1) + index * 1000), completed_at: new Date(Date.UTC(2026, 0, 1) + index * 1000 + 500),
    timings: { prefill_ms: 10, decode_ms: 1000, prefill_tokens_per_second: 1000, decode_tokens_per_second: 40 },
    device: 'cpu',
    collections: ['bench'], tags: [], capture_sections: ['tokens', 'routing'],
    prompt: [{ role: 'user', content: 'a prompt', channel: null }],
    messages: [
      { role: 'user', channel: null, recipient: null, content_type: null, token_start: 0, token_end: promptLength, complete: true, text: 'a prompt', extra: null },
      { role: 'assistant', channel: 'analysis', recipient: null, content_type: null, token_start: promptLength, token_end: analysisEnd, complete: true, text: null, extra: null },
      { role: 'assistant', channel: 'final', recipient: null, content_type: null, token_start: analysisEnd, token_end: TRACE_TOKENS, complete: false, text: 'an answer', extra: null },
    ],
    raw_cot_included: false, raw_cot: null, filtered_cot: 'filtered reasoning', filter_name: 'policy', filter_version: 'v1', filtered_cot_redactions: [], final: 'an answer',
    prompt_length: promptLength,
    tokens: Int32Array.from({ length: TRACE_TOKENS }, () => Math.floor(random() * 200000)),
    token_channel: Array.from({ length: TRACE_TOKENS }, (_, t) => (t < promptLength ? 'user' : t < analysisEnd ? 'analysis' : 'final')),
    logprobs: Float64Array.from({ length: TRACE_TOKENS - promptLength }, () => -random()),
    routing_experts: new NestedTensor(experts, [TRACE_TOKENS, LAYERS, TOP_K]),
    routing_weights: new NestedTensor(weights, [TRACE_TOKENS, LAYERS, TOP_K]),
    annotations: [], verdicts: [],
  };
}

/** One export in this process; prints its figures as JSON. */
async function child(writer: Writer, tokens: number, file: string): Promise<void> {
  const out = createWriteStream(file);
  const sink = streamSink(out);
  const columns = datasetColumns(DEFAULT_INCLUDE);
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const traces = Math.ceil(tokens / TRACE_TOKENS);
  if (writer === 'parquet') {
    const parquet = new DatasetParquetWriter(columns, sink);
    let group: DatasetRow[] = [];
    for (let index = 0; index < traces; index++) {
      group.push(syntheticRow(index));
      if ((group.length + 1) * TRACE_TOKENS > ROW_GROUP_TOKENS) { await parquet.writeRows(group); group = []; }
    }
    await parquet.writeRows(group);
    await parquet.close();
  } else {
    const text = (piece: string) => sink(Buffer.from(piece));
    for (let index = 0; index < traces; index++) { await writeJson(text, syntheticRow(index)); await text('\n'); }
  }
  out.end();
  await finished(out);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  console.log(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, tokensPerSecond: (traces * TRACE_TOKENS) / seconds, peakRssMb: process.resourceUsage().maxRSS / 1024, bytes: statSync(file).size }));
}

interface Figures { seconds: number; cpuSeconds: number; tokensPerSecond: number; peakRssMb: number; bytes: number }

function measure(writer: Writer, tokens: number, dir: string): Figures {
  const output = execFileSync(process.execPath, ['--import', 'tsx', 'bench/export.ts', '--child', writer, '--tokens', String(tokens), '--file', join(dir, `out.${writer}`)], { encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop()!) as Figures;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { child: { type: 'string' }, tokens: { type: 'string', default: '1000000' }, file: { type: 'string' }, repeats: { type: 'string', default: '3' } } });
  const tokens = Number(values.tokens);
  if (values.child) return child(values.child as Writer, tokens, values.file!);
  const dir = mkdtempSync(join(tmpdir(), 'cotscope-bench-export-'));
  const runs: Record<Writer, Figures[]> = { parquet: [], jsonl: [] };
  try {
    for (let repeat = 0; repeat < Number(values.repeats); repeat++) {
      for (const writer of ['parquet', 'jsonl'] as const) {
        const figures = measure(writer, tokens, dir);
        runs[writer].push(figures);
        console.error(`run ${repeat + 1} ${writer}: ${figures.tokensPerSecond.toFixed(0)} tokens/s, ${figures.cpuSeconds.toFixed(1)} CPU s, peak RSS ${figures.peakRssMb.toFixed(0)} MB, ${(figures.bytes / 1e6).toFixed(1)} MB written`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`bench:export  ${tokens.toLocaleString()} tokens, gpt-oss-20b routing shape (${LAYERS} layers, top-${TOP_K} of ${EXPERTS}), ${values.repeats} runs each, median (spread)`);
  for (const writer of ['parquet', 'jsonl'] as const) {
    const pick = (key: keyof Figures) => runs[writer].map((figures) => figures[key]);
    console.log(`  ${writer.padEnd(8)} ${median(pick('tokensPerSecond')).toFixed(0).padStart(8)} tokens/s (${(spread(pick('tokensPerSecond')) * 100).toFixed(0)}%)  CPU ${median(pick('cpuSeconds')).toFixed(1)} s (${(spread(pick('cpuSeconds')) * 100).toFixed(0)}%)  peak RSS ${median(pick('peakRssMb')).toFixed(0)} MB (${(spread(pick('peakRssMb')) * 100).toFixed(0)}%)  file ${(median(pick('bytes')) / 1e6).toFixed(1)} MB`);
  }
  const ratio = median(runs.parquet.map((figures) => figures.tokensPerSecond)) / median(runs.jsonl.map((figures) => figures.tokensPerSecond));
  const size = median(runs.parquet.map((figures) => figures.bytes)) / median(runs.jsonl.map((figures) => figures.bytes));
  const cpuRatio = median(runs.jsonl.map((figures) => figures.cpuSeconds)) / median(runs.parquet.map((figures) => figures.cpuSeconds));
  console.log(`  parquet / jsonl: throughput x${ratio.toFixed(2)} (by CPU time x${cpuRatio.toFixed(2)}), file size x${size.toFixed(3)}`);
}

await main();
