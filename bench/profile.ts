/**
 * `npm run bench:profile`: where decode time goes. Builds the runtime's fused graph for a
 * checkpoint, runs a prefill and a greedy decode loop with onnxruntime's profiler on, and prints
 * kernel time per op type and per node group (lm_head, experts, attention, norms, ...) over the
 * decode steps only, next to the JS-side time per step (feeds, session.run outside the kernels,
 * KV handoff, sampler).
 *
 * Environment: PROFILE_MODEL (models/small), PROFILE_CAPTURE (off | routing | routing+attention),
 * PROFILE_EXPERTS (float | int8; default: the runtime's choice), PROFILE_THREADS (1),
 * PROFILE_PROMPT_TOKENS (256), PROFILE_STEPS (32).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildGptOssGraph, emptyKvCache, forwardFeeds, LOGITS, LOGITS_LOGSUMEXP, nextKvCache, sessionOptions } from '../kernels';
import { openCheckpoint } from '../lib/model/checkpoint';
import { FALLBACK_EXPERTS } from '../lib/runtime/runtime';
import { Sampler, SeededRandom } from '../lib/runtime/sampler';
import { benchPromptIds, CAPTURE_MODES } from './common';

const MODEL = process.env.PROFILE_MODEL ?? path.join('models', 'small');
const CAPTURE = (process.env.PROFILE_CAPTURE ?? 'off') as keyof typeof CAPTURE_MODES;
const THREADS = Number(process.env.PROFILE_THREADS ?? 1);
const PROMPT_TOKENS = Number(process.env.PROFILE_PROMPT_TOKENS ?? 256);
const STEPS = Number(process.env.PROFILE_STEPS ?? 32);

/** One event of onnxruntime's Chrome-trace profile. */
interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** Node groups by node name (kernels/ names nodes after their first output). */
const NODE_GROUPS: [group: string, matches: (node: string) => boolean][] = [
  ['lm_head (result_output)', (n) => n.startsWith('result_output')],
  ['experts (ffn_moe)', (n) => n.includes('ffn_moe')],
  ['router (ffn_gate_inp)', (n) => n.includes('ffn_gate_inp') || n.includes('ffn_moe_logits') || n.includes('routing')],
  ['attention (attn_*)', (n) => n.includes('attn_')],
  ['norms (*_norm)', (n) => n.includes('norm')],
  ['embedding (token_embd)', (n) => n.includes('token_embd') || n.startsWith('input_ids')],
  ['log-prob normaliser (logits_logsumexp)', (n) => n.startsWith(LOGITS_LOGSUMEXP)],
  ['residual adds (ffn_inp, l_out)', (n) => n.endsWith('.ffn_inp') || n.endsWith('.l_out')],
];

function lastLogSumExp(outputs: ort.InferenceSession.OnnxValueMapType): number {
  const values = outputs[LOGITS_LOGSUMEXP].data as Float32Array;
  return values[values.length - 1];
}

function groupOf(node: string): string {
  return NODE_GROUPS.find(([, matches]) => matches(node))?.[0] ?? 'other';
}

function addTo(totals: Map<string, number>, key: string, microseconds: number): void {
  totals.set(key, (totals.get(key) ?? 0) + microseconds);
}

function table(title: string, totals: Map<string, number>, steps: number, wholeStepUs: number): string[] {
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  return [
    `${title.padEnd(40)} ${'ms/step'.padStart(9)} ${'% of step'.padStart(10)}`,
    ...rows.map(([key, us]) => `  ${key.padEnd(38)} ${(us / steps / 1000).toFixed(3).padStart(9)} ${((us / steps / wholeStepUs) * 100).toFixed(1).padStart(9)}%`),
  ];
}

/** Kernel time per op type and per node group over the runs after the first `skipRuns` (prefill). */
function summarise(events: ProfileEvent[], skipRuns: number) {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const decodeFrom = runs[skipRuns]?.ts ?? Infinity;
  const decodeRuns = runs.slice(skipRuns);
  const byOp = new Map<string, number>();
  const byGroup = new Map<string, number>();
  for (const event of events) {
    if (event.cat !== 'Node' || !event.name.endsWith('_kernel_time') || event.ts < decodeFrom) continue;
    const node = event.name.slice(0, -'_kernel_time'.length);
    addTo(byOp, event.args?.op_name ?? '?', event.dur);
    addTo(byGroup, groupOf(node), event.dur);
  }
  const runUs = decodeRuns.reduce((sum, e) => sum + e.dur, 0);
  return { byOp, byGroup, runUs, runs: decodeRuns.length };
}

async function main(): Promise<void> {
  const checkpoint = openCheckpoint(MODEL);
  const config = checkpoint.config;
  const experts = (process.env.PROFILE_EXPERTS as 'float' | 'int8' | undefined) ?? FALLBACK_EXPERTS;
  const graph = buildGptOssGraph(checkpoint, {
    variant: 'fused',
    capture: CAPTURE_MODES[CAPTURE],
    logits: 'last',
    yarn: 'exact',
    experts,
    maxPositions: PROMPT_TOKENS + STEPS + 8,
  });
  checkpoint.close();
  const profileDir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-profile-'));
  const session = await ort.InferenceSession.create(graph.model, {
    ...sessionOptions(graph, { threads: THREADS }),
    enableProfiling: true,
    profileFilePrefix: path.join(profileDir, 'ort'),
  });

  const sampler = new Sampler({ temperature: 0, topP: 1 }, new SeededRandom(0));
  const prefill = await session.run(forwardFeeds(graph.io, benchPromptIds(PROMPT_TOKENS), emptyKvCache(graph.io)));
  let kv = nextKvCache(graph.io, prefill);
  let next = sampler.pick(prefill[LOGITS].data as Float32Array, { logSumExp: lastLogSumExp(prefill) }).token;

  const js = { feeds: 0, run: 0, kvHandoff: 0, sampler: 0 };
  const decodeStart = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const t0 = performance.now();
    const feeds = forwardFeeds(graph.io, [next], kv);
    const t1 = performance.now();
    const outputs = await session.run(feeds);
    const t2 = performance.now();
    kv = nextKvCache(graph.io, outputs);
    const t3 = performance.now();
    next = sampler.pick(outputs[LOGITS].data as Float32Array, { logSumExp: lastLogSumExp(outputs) }).token;
    const t4 = performance.now();
    js.feeds += t1 - t0;
    js.run += t2 - t1;
    js.kvHandoff += t3 - t2;
    js.sampler += t4 - t3;
  }
  const decodeMs = performance.now() - decodeStart;
  const profileFile = session.endProfiling() as unknown as string | undefined;
  await session.release();

  const file = profileFile ?? path.join(profileDir, (await import('node:fs')).readdirSync(profileDir)[0]);
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  rmSync(profileDir, { recursive: true, force: true });
  const { byOp, byGroup, runUs, runs } = summarise(events, 1);
  const stepUs = (decodeMs * 1000) / STEPS;
  const kernelUs = [...byOp.values()].reduce((a, b) => a + b, 0);

  console.log(`${MODEL}: capture ${CAPTURE}, experts ${experts}, ${THREADS} thread(s), prompt ${PROMPT_TOKENS}, ${STEPS} decode steps (profiler on: it inflates times; compare shares, and take tok/s from bench:runtime)`);
  console.log(`decode: ${(decodeMs / STEPS).toFixed(2)} ms/step = ${(1000 / (decodeMs / STEPS)).toFixed(1)} tok/s; ORT model_run ${(runUs / runs / 1000).toFixed(2)} ms/step, kernels ${(kernelUs / STEPS / 1000).toFixed(2)} ms/step`);
  console.log(table('op type (kernel time)', byOp, STEPS, stepUs).join('\n'));
  console.log(table('node group (kernel time)', byGroup, STEPS, stepUs).join('\n'));
  const jsSide = new Map<string, number>([
    ['feeds (forwardFeeds)', js.feeds * 1000],
    ['session.run outside ORT model_run', (js.run - runUs / 1000) * 1000],
    ['KV handoff (nextKvCache)', js.kvHandoff * 1000],
    ['sampler (argmax + log-prob)', js.sampler * 1000],
  ]);
  console.log(table('JS side', jsSide, STEPS, stepUs).join('\n'));
}

await main();
