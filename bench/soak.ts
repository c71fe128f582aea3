/**
 * Soak benchmark (not a test): concurrent clients on the list, detail and token endpoints of the
 * production app, plus one live-run loop and one batch capture, against PostgreSQL and PGlite in
 * one run. Prints requests/s, p50/p99 latency, errors and the server's peak memory per backend,
 * and PGlite's figures as a ratio of PostgreSQL's.
 *   npx tsx bench/soak.ts [--clients 20] [--seconds 60] [--traces 4] [--tokens 2048] [--backends postgres,pglite]
 * Traces are synthetic (seeded, gpt-oss-20b routing and attention shape) stored through the real store.
 * PostgreSQL: DATABASE_URL (a fresh schema is made and dropped); skipped when unset. Server logs: bench/results/soak-*-server.log.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type StoreOptions } from '../lib/store';
import { backendsUnderTest, modelIdentity, syntheticRun, type BackendUnderTest, type RunShape } from '../tests/db/helpers';
import { startApp, type RunningApp } from '../tests/e2e/server';
import { median } from './common';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

const CLIENTS = Number(flag('clients', '20'));
const SECONDS = Number(flag('seconds', '60'));
const TRACES = Number(flag('traces', '4'));
const TOKENS = Number(flag('tokens', '2048'));
const BACKENDS = flag('backends', 'postgres,pglite').split(',');
const SHAPE_20B: RunShape = { numLayers: 24, numExperts: 32, topK: 4, numHeads: 64, attentionTopK: 8, promptLength: 48, generated: TOKENS - 48 };

interface SoakResult {
  backend: string;
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstErrors: string[];
  liveRuns: number;
  batchCapture: string;
  peakServerMiB: number;
}

async function seed(options: StoreOptions): Promise<string[]> {
  const store = await openStore(options);
  try {
    const ids: string[] = [];
    for (let i = 0; i < TRACES; i++) {
      const run = syntheticRun(SHAPE_20B, 100 + i);
      const id = await store.traces.create({ model: modelIdentity(SHAPE_20B, 'soak-20b-shape'), prompt: [{ role: 'user', content: `soak ${i}` }], sampling: run.sampling });
      await store.traces.complete(id, run);
      ids.push(id);
    }
    return ids;
  } finally {
    await store.close();
  }
}

function rssBytes(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return match ? Number(match[1]) * 1024 : 0;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function clientLoop(app: RunningApp, ids: string[], seed: number, until: number, latencies: number[], errors: string[]): Promise<void> {
  let i = seed;
  while (Date.now() < until) {
    const id = ids[i % ids.length];
    const kind = i % 3;
    const url = kind === 0 ? `${app.url}/api/traces?limit=50` : kind === 1 ? `${app.url}/api/traces/${id}` : `${app.url}/api/traces/${id}/tokens/${(i * 7919) % TOKENS}`;
    const started = performance.now();
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (!response.ok) errors.push(`${response.status} ${url}`);
    } catch (error) {
      errors.push(`${(error as Error).message} ${url}`);
    }
    latencies.push(performance.now() - started);
    i += CLIENTS;
  }
}

async function liveRunLoop(app: RunningApp, until: number, errors: string[]): Promise<number> {
  let runs = 0;
  while (Date.now() < until) {
    const response = await fetch(`${app.url}/api/run`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `Soak run ${runs}`, maxNewTokens: 48, seed: runs }),
    });
    const text = await response.text();
    if (!response.ok || !text.includes('event: done')) errors.push(`live run: ${response.status} ${text.slice(-200)}`);
    else runs += 1;
  }
  return runs;
}

function batchCapture(backend: BackendUnderTest, work: string, until: number): Promise<string> {
  const prompts = path.join(work, 'soak-prompts.jsonl');
  writeFileSync(prompts, Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: `soak-${i}`, prompt: `Batch question ${i}?` })).join('\n'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'capture', '--model', 'models/tiny', '--prompts', prompts, '--max-new-tokens', '48', '--collection', 'soak'], {
      env: { ...process.env, ...backend.childEnv }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let stopped = false;
    child.stderr.on('data', (data: Buffer) => { stderr += data.toString(); });
    const timer = setTimeout(() => { stopped = true; child.kill('SIGINT'); }, Math.max(0, until - Date.now()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      const completed = (stderr.match(/: complete, /g) ?? []).length;
      const last = stderr.trim().split('\n').at(-1) ?? '';
      resolve(code === 0 || (stopped && code === 130) ? `${completed} traces` : `exit ${code}: ${last.slice(0, 160)}`);
    });
  });
}

async function soak(backend: BackendUnderTest): Promise<SoakResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'cotscope-soak-'));
  const ids = await seed(backend.options);
  const app = await startApp(['--no-demo'], backend.childEnv);
  try {
    // Warm the runtime and the build's route bundles once, outside the measured window.
    await liveRunLoop(app, Date.now() + 1, []);
    const latencies: number[] = [];
    const errors: string[] = [];
    let peak = rssBytes(app.pid);
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(app.pid)); }, 100);
    const started = Date.now();
    const until = started + SECONDS * 1000;
    const [, liveRuns, batch] = await Promise.all([
      Promise.all(Array.from({ length: CLIENTS }, (_, client) => clientLoop(app, ids, client, until, latencies, errors))),
      liveRunLoop(app, until, errors),
      batchCapture(backend, work, until),
    ]);
    clearInterval(sampler);
    const elapsed = (Date.now() - started) / 1000;
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/soak-${backend.name}-server.log`, app.logs.join(''));
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      backend: backend.name, requests: latencies.length, requestsPerSecond: latencies.length / elapsed,
      p50Ms: median(latencies), p99Ms: percentile(sorted, 99), errors: errors.length, firstErrors: errors.slice(0, 3),
      liveRuns, batchCapture: batch, peakServerMiB: peak / 2 ** 20,
    };
  } finally {
    await app.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const backends = backendsUnderTest().filter((backend) => BACKENDS.includes(backend.name));
  if (BACKENDS.includes('postgres') && !backends.some((backend) => backend.name === 'postgres')) console.log('# PostgreSQL skipped: DATABASE_URL is unset');
  console.log(`# soak: ${CLIENTS} clients x ${SECONDS} s on list/detail/token endpoints + 1 live-run loop + 1 batch capture; ${TRACES} traces of ${TOKENS} tokens (gpt-oss-20b routing + attention shape); ${os.cpus().length} cores`);
  const results: SoakResult[] = [];
  for (const backend of backends) {
    try {
      results.push(await soak(backend));
    } finally {
      await backend.cleanup();
    }
  }
  console.log('backend  | req/s  | p50 ms | p99 ms | errors | live runs | batch capture        | peak server MiB');
  for (const r of results) {
    console.log(`${r.backend.padEnd(8)} | ${r.requestsPerSecond.toFixed(1).padStart(6)} | ${r.p50Ms.toFixed(0).padStart(6)} | ${r.p99Ms.toFixed(0).padStart(6)} | ${String(r.errors).padStart(6)} | ${String(r.liveRuns).padStart(9)} | ${r.batchCapture.padEnd(20)} | ${r.peakServerMiB.toFixed(0)}`);
    for (const error of r.firstErrors) console.log(`  error: ${error}`);
  }
  const [postgres, pglite] = ['postgres', 'pglite'].map((name) => results.find((r) => r.backend === name));
  if (postgres && pglite) {
    console.log(`pglite / postgres: req/s ${(pglite.requestsPerSecond / postgres.requestsPerSecond).toFixed(2)}x, p99 ${(pglite.p99Ms / postgres.p99Ms).toFixed(2)}x`);
  }
}

await main();
