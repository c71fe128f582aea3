/**
 * `npm run bench:workers`: batch-capture throughput through the job queue with 1 and 2
 * `cotscope worker` processes on one PostgreSQL database (DATABASE_URL, else the local server's
 * `test` database; a fresh schema, dropped afterwards). Each round enqueues the same jobs once the
 * workers are warm and times them until every job is done; rounds alternate 1 and 2 workers.
 * Prints captures/s and generated tokens/s (median and spread) and the 2-worker / 1-worker ratio.
 * Options: --model DIR (default: a generated tiny checkpoint), --jobs N (16), --tokens N (64),
 * --rounds N (3), --threads N per worker (1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { enqueueCapture, type CaptureSettings, type PromptLine } from '../lib/cli/capture';
import { CaptureQueue } from '../lib/jobs/queue';
import { writeGeneratedCheckpoint } from '../lib/model/generate';
import { openStore, type Store } from '../lib/store/index';
import { median } from './common';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, jobs: { type: 'string', default: '16' }, tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' }, threads: { type: 'string', default: '1' },
  },
});
const JOBS = Number(values.jobs);
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);

const baseUrl = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const schema = `cotscope_bench_workers_${process.pid}`;
const url = new URL(baseUrl);
url.searchParams.set('schema', schema);
const temp = mkdtempSync(path.join(os.tmpdir(), 'cotscope-bench-workers-'));
const modelDir = values.model ?? path.join(temp, 'tiny');

/** A worker process; its log is printed only if it exits with an error. */
function startWorker(): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'worker', '--model', modelDir, '--threads', values.threads!],
    { env: { ...process.env, DATABASE_URL: url.toString() }, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  child.stderr!.on('data', (data: Buffer) => log.push(data.toString()));
  return {
    child,
    exited: new Promise((resolve) => child.on('exit', (code) => {
      if (code !== 0) console.error(`worker exited with ${code}:\n${log.join('')}`);
      resolve(code);
    })),
  };
}

async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Round { workers: number; seconds: number; tokens: number }

async function round(store: Store, queue: CaptureQueue, workers: number, index: number): Promise<Round> {
  const processes = Array.from({ length: workers }, startWorker);
  try {
    const alive = async () => (await store.backend.fast.query<{ n: number }>('SELECT count(*)::int AS n FROM workers WHERE stopped_at IS NULL'))[0].n === workers;
    await waitFor(alive, `${workers} warm workers`);
    const collection = `round-${index}-${workers}w`;
    const prompts: PromptLine[] = Array.from({ length: JOBS }, (_, job) => ({ id: `q${job}`, prompt: `Benchmark prompt number ${job}.` }));
    const settings: CaptureSettings = {
      efforts: ['low'], samples: 1, collection, includeLogits: true, capture: { routing: true, attention: false },
      sampling: { maxNewTokens: TOKENS, temperature: 1, topP: 1, seed: index },
    };
    const started = performance.now();
    await enqueueCapture(modelDir, prompts, settings, { retryLimit: 0 }, { databaseUrl: baseUrl, schema });
    let progress = null;
    await waitFor(async () => {
      progress = (await queue.overview()).collections.find((row) => row.collection === collection) ?? null;
      return progress !== null && progress.done + progress.failed === JOBS;
    }, `round ${index} to finish`);
    const seconds = (performance.now() - started) / 1000;
    const [{ tokens }] = await store.backend.fast.query<{ tokens: number }>(
      `SELECT COALESCE(sum(t.token_count - t.prompt_tokens), 0)::int AS tokens FROM traces t
         JOIN collection_traces ct ON ct.trace_id = t.id JOIN collections c ON c.id = ct.collection_id
        WHERE c.name = $1 AND t.status = 'complete'`, [collection]);
    return { workers, seconds, tokens };
  } finally {
    for (const worker of processes) worker.child.kill('SIGTERM');
    await Promise.all(processes.map((worker) => worker.exited));
  }
}

const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;

try {
  if (!values.model) await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 1 });
  const store = await openStore({ databaseUrl: baseUrl, schema });
  const queue = await CaptureQueue.open(store, { maintenance: false });
  try {
    console.log(`bench:workers: ${JOBS} jobs x ${TOKENS} new tokens, model ${path.basename(modelDir)}, ${values.threads} thread(s) per worker, ` +
      `${os.availableParallelism()} cores, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
    const rounds: Round[] = [];
    for (let index = 0; index < ROUNDS; index++) {
      for (const workers of [1, 2]) {
        const result = await round(store, queue, workers, index);
        rounds.push(result);
        console.log(`round ${index + 1} ${workers} worker(s): ${(JOBS / result.seconds).toFixed(2)} captures/s, ${(result.tokens / result.seconds).toFixed(1)} tokens/s`);
      }
    }
    const stats = (workers: number) => {
      const mine = rounds.filter((result) => result.workers === workers);
      const captures = mine.map((result) => JOBS / result.seconds);
      const tokens = mine.map((result) => result.tokens / result.seconds);
      return { captures, tokens };
    };
    const one = stats(1);
    const two = stats(2);
    for (const [label, data] of [['1 worker ', one], ['2 workers', two]] as const) {
      console.log(`${label}: captures/s median ${median(data.captures).toFixed(2)} (range ${spread(data.captures)}), tokens/s median ${median(data.tokens).toFixed(1)} (range ${spread(data.tokens)})`);
    }
    console.log(`2 workers / 1 worker: ${(median(two.captures) / median(one.captures)).toFixed(2)}x captures/s, ${(median(two.tokens) / median(one.tokens)).toFixed(2)}x tokens/s`);
  } finally {
    await queue.close();
    await store.close();
  }
} finally {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.query(`DROP SCHEMA IF EXISTS "${schema}_pgboss" CASCADE`);
  await client.end();
  rmSync(temp, { recursive: true, force: true });
}
