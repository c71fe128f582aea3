/**
 * Shared fixtures for the store tests: the backends to run against (PGlite in a temp folder
 * always; PostgreSQL in a fresh schema when DATABASE_URL is set) and synthetic RunResults.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, type ModelIdentity, type Store, type StoreOptions } from '../../lib/store/index';
import type { RunResult, TraceMessage } from '../../lib/trace/types';
import type { ChunkSection } from '../../lib/trace/codec';
import { mulberry32 } from '../../lib/model/generate';

export interface BackendUnderTest {
  name: 'pglite' | 'postgres';
  options: StoreOptions;
  /** Environment that points a child process (the CLI) at the same database. */
  childEnv: Record<string, string>;
  cleanup(): Promise<void>;
}

/** Every backend available in this environment, each pointing at a fresh, empty database. */
export function backendsUnderTest(): BackendUnderTest[] {
  const dataDir = mkdtempSync(join(tmpdir(), 'cotscope-db-'));
  const backends: BackendUnderTest[] = [{
    name: 'pglite',
    options: { dataDir, databaseUrl: '' },
    childEnv: { COTSCOPE_DATA_DIR: dataDir, DATABASE_URL: '' },
    cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
  }];
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const schema = `cotscope_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    backends.push({
      name: 'postgres',
      options: { databaseUrl, schema },
      childEnv: { DATABASE_URL: withSchema(databaseUrl, schema) },
      cleanup: async () => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.query(`DROP SCHEMA IF EXISTS "${schema}_pgboss" CASCADE`); // the job queue's (lib/jobs/queue.ts)
        await client.end();
      },
    });
  }
  return backends;
}

function withSchema(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  return url.toString();
}

export async function withStore<T>(backend: BackendUnderTest, body: (store: Store) => Promise<T>, extra: StoreOptions = {}): Promise<T> {
  const store = await openStore({ ...backend.options, ...extra });
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

/** Deterministic pseudo-random numbers: the generator's mulberry32. */
export const randomSource = mulberry32;

export interface RunShape {
  numLayers: number;
  numExperts: number;
  topK: number;
  numHeads: number;
  attentionTopK: number;
  promptLength: number;
  generated: number;
}

export const TINY_SHAPE: RunShape = { numLayers: 3, numExperts: 8, topK: 2, numHeads: 4, attentionTopK: 3, promptLength: 12, generated: 20 };

export function modelIdentity(shape: RunShape, name = 'synthetic-tiny'): ModelIdentity {
  return {
    name, configHash: `hash-${shape.numLayers}-${shape.numExperts}`,
    numLayers: shape.numLayers, numExperts: shape.numExperts, expertsPerToken: shape.topK,
    numHeads: shape.numHeads, hiddenSize: 64, vocabSize: 201088,
  };
}

/**
 * A run shaped like the runtime's output: a user prompt, then analysis and final messages, with
 * routing (top-k of random logits, softmax weights) and attention summaries for every position.
 */
export function syntheticRun(shape: RunShape, seed: number, texts = { user: 'What is two plus two?', analysis: 'The user asks simple arithmetic.', final: 'Four.' }): RunResult {
  const random = randomSource(seed);
  const numTokens = shape.promptLength + shape.generated;
  const tokens = Array.from({ length: numTokens }, () => Math.floor(random() * 200000));
  const analysisEnd = shape.promptLength + Math.floor(shape.generated / 2);
  const messages: TraceMessage[] = [
    { role: 'user', channel: null, recipient: null, contentType: null, content: texts.user, tokenStart: 0, tokenEnd: shape.promptLength, complete: true },
    { role: 'assistant', channel: 'analysis', recipient: null, contentType: null, content: texts.analysis, tokenStart: shape.promptLength, tokenEnd: analysisEnd, complete: true },
    { role: 'assistant', channel: 'final', recipient: null, contentType: null, content: texts.final, tokenStart: analysisEnd, tokenEnd: numTokens, complete: true },
  ];
  const { numLayers, numExperts, topK, numHeads, attentionTopK } = shape;
  const logits = new Float32Array(numTokens * numLayers * numExperts).map(() => (random() - 0.5) * 8);
  const experts = numExperts > 256 ? new Uint16Array(numTokens * numLayers * topK) : new Uint8Array(numTokens * numLayers * topK);
  const weights = new Float32Array(numTokens * numLayers * topK);
  for (let row = 0; row < numTokens * numLayers; row++) {
    const rowLogits = logits.subarray(row * numExperts, (row + 1) * numExperts);
    const chosen = Array.from(rowLogits.keys()).sort((a, b) => rowLogits[b] - rowLogits[a]).slice(0, topK);
    const exps = chosen.map((expert) => Math.exp(rowLogits[expert] - rowLogits[chosen[0]]));
    const total = exps.reduce((sum, value) => sum + value, 0);
    chosen.forEach((expert, k) => { experts[row * topK + k] = expert; weights[row * topK + k] = exps[k] / total; });
  }
  const slots = numTokens * numLayers * numHeads * attentionTopK;
  const topPositions = new Int32Array(slots);
  const topWeights = new Float32Array(slots);
  for (let slot = 0; slot < slots; slot++) {
    const position = Math.floor(slot / (numLayers * numHeads * attentionTopK));
    const k = slot % attentionTopK;
    const visible = position >= k;
    topPositions[slot] = visible ? position - k : -1;
    topWeights[slot] = visible ? random() / (k + 1) : 0;
  }
  return {
    model: { name: 'synthetic-tiny', configHash: `hash-${numLayers}-${numExperts}` },
    tokens,
    promptLength: shape.promptLength,
    messages,
    logprobs: Array.from({ length: shape.generated }, () => -random() * 5),
    routing: { numTokens, numLayers, numExperts, topK, experts, weights, logits },
    attention: {
      numTokens, numLayers, numHeads, topK: attentionTopK,
      sinkMass: new Float32Array(numTokens * numLayers * numHeads).map(() => random()),
      topPositions, topWeights,
    },
    sampling: { temperature: 0.7, topP: 0.95, seed, maxNewTokens: shape.generated },
    stopReason: 'stop_token',
    timings: { prefillMs: 12.5, decodeMs: 80.25, prefillTokensPerSecond: 960, decodeTokensPerSecond: 249.2 },
    device: 'webgpu (test adapter)',
  };
}

/** Largest |a - b| / max(|b|, 2^-14): f16 keeps this under 2^-11 for normal values. */
export function maxRelativeError(actual: Float32Array, expected: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 2 ** -14));
  return worst;
}

export interface StoredChunkFixture { section: ChunkSection; tokenStart: number; tokenEnd: number; version: number; sha256: string; bytes: Uint8Array }

/**
 * Chunks written by codec version 1 (tests/fixtures/codec-v1-chunks.json) and the run they encode:
 * syntheticRun(TINY_SHAPE, seed) with one attention position past 65535, so one chunk uses v1's
 * i32 positions and the rest its u16 ones.
 */
export function codecV1Fixture(): { run: RunResult; chunkTokens: number; chunks: StoredChunkFixture[] } {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/codec-v1-chunks.json', import.meta.url), 'utf8')) as {
    seed: number; chunkTokens: number; wideSlot: number; widePosition: number; chunks: (Omit<StoredChunkFixture, 'bytes'> & { base64: string })[];
  };
  const run = syntheticRun(TINY_SHAPE, fixture.seed);
  run.attention!.topPositions[fixture.wideSlot] = fixture.widePosition;
  const chunks = fixture.chunks.map(({ base64, ...chunk }) => ({ ...chunk, bytes: new Uint8Array(Buffer.from(base64, 'base64')) }));
  return { run, chunkTokens: fixture.chunkTokens, chunks };
}
