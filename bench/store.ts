/**
 * `npm run bench:store`: trace store ingest throughput, stored bytes per token and load time, on
 * PGlite (temp folder) and PostgreSQL (DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test
 * when reachable; a fresh schema, dropped afterwards). Synthetic capture data in the gpt-oss-20b
 * and -120b shapes, written by one writer and (PostgreSQL) by four at once. Targets: 20b routing
 * <= 300 bytes/token; into PostgreSQL >= 50,000 tokens/s for routing and for 20b raw logits,
 * >= 20,000 for 120b raw logits, >= 10,000 for 20b attention top-8; an 8k-token trace loads in
 * < 300 ms (routing) and < 400 ms (120b raw logits). Ingest lines also give the stored MB/s
 * (10^6 bytes) and the stored bytes per token of each section. The synthetic attention follows
 * gpt-oss's sliding (last 128 tokens) and full layers (bench/synthetic-capture.ts), so its stored
 * size is what real captures cost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, type ModelIdentity, type Store, type StoreOptions } from '../lib/store/index';
import type { RunResult } from '../lib/trace/types';
import { SHAPES, syntheticRun, type Shape } from './synthetic-capture';

interface Variant { name: string; logits: boolean; attention: boolean; tokens: number; traces: number }
const VARIANTS: Variant[] = [
  { name: "routing (ids + weights)", logits: false, attention: false, tokens: 4096, traces: 4 },
  { name: 'routing + router logits', logits: true, attention: false, tokens: 2048, traces: 2 },
  { name: 'routing + logits + attention top-8', logits: true, attention: true, tokens: 1024, traces: 2 },
];
const LOAD_TOKENS = 8192;
const LOAD_REPEATS = 7;

function identity(shape: Shape): ModelIdentity {
  return { name: shape.name, configHash: `bench-${shape.name}`, numLayers: shape.numLayers, numExperts: shape.numExperts,
    expertsPerToken: shape.topK, numHeads: shape.numHeads, hiddenSize: 2880, vocabSize: 201088 };
}

async function ingest(store: Store, shape: Shape, run: RunResult, includeLogits: boolean): Promise<{ id: string; ms: number }> {
  const started = performance.now();
  const id = await store.traces.create({ model: identity(shape), prompt: [{ role: 'user', content: 'bench' }], sampling: run.sampling });
  await store.traces.complete(id, run, { includeLogits });
  return { id, ms: performance.now() - started };
}

/** Stored chunk bytes (headers and checksums included) by section. */
async function storedBytes(store: Store, id: string): Promise<Map<string, number>> {
  const rows = await store.backend.prisma.traceChunk.findMany({ where: { traceId: id }, select: { byteLength: true, section: true } });
  const bySection = new Map<string, number>();
  for (const row of rows) bySection.set(row.section, (bySection.get(row.section) ?? 0) + row.byteLength);
  return bySection;
}

const total = (bySection: Map<string, number>) => [...bySection.values()].reduce((sum, bytes) => sum + bytes, 0);

/** Traces written at once by separate writers (each its own connection and transaction), as several workers do. */
const WRITERS = 4;

async function concurrentIngest(store: Store, shape: Shape, variant: Variant): Promise<number> {
  const runs = Array.from({ length: WRITERS }, (_, index) => syntheticRun(shape, variant.tokens, variant, 100 + index));
  const started = performance.now();
  await Promise.all(runs.map((run) => ingest(store, shape, run, variant.logits)));
  return (WRITERS * variant.tokens * 1000) / (performance.now() - started);
}

async function benchBackend(label: string, options: StoreOptions): Promise<void> {
  const store = await openStore(options);
  try {
    console.log(`\n== ${label} (${store.backend.location})`);
    await ingest(store, SHAPES[0], syntheticRun(SHAPES[0], 512, VARIANTS[0], 0), false); // warm-up: Prisma plans, connections
    for (const shape of SHAPES) {
      for (const variant of VARIANTS) {
        if (variant.attention && shape.name !== 'gpt-oss-20b') continue;
        let tokens = 0;
        let ms = 0;
        const bytes = new Map<string, number>();
        for (let index = 0; index < variant.traces; index++) {
          const run = syntheticRun(shape, variant.tokens, variant, index + 1); // generated outside the timing
          const result = await ingest(store, shape, run, variant.logits);
          tokens += variant.tokens;
          ms += result.ms;
          for (const [section, sectionBytes] of await storedBytes(store, result.id)) bytes.set(section, (bytes.get(section) ?? 0) + sectionBytes);
        }
        const rate = (tokens * 1000) / ms;
        const sections = [...bytes].map(([section, sectionBytes]) => `${section} ${(sectionBytes / tokens).toFixed(1)}`).join(', ');
        console.log(`${shape.name.padEnd(13)} ${variant.name.padEnd(36)} ingest ${Math.round(rate).toLocaleString('en-US').padStart(9)} tokens/s ${(rate * total(bytes) / tokens / 1e6).toFixed(0).padStart(4)} MB/s   ${(total(bytes) / tokens).toFixed(1).padStart(8)} bytes/token stored (${sections})`);
        if (store.backend.kind === 'postgres') {
          const concurrentRate = await concurrentIngest(store, shape, variant);
          console.log(`${shape.name.padEnd(13)} ${variant.name.padEnd(36)} ingest ${Math.round(concurrentRate).toLocaleString('en-US').padStart(9)} tokens/s   with ${WRITERS} concurrent writers (as ${WRITERS} workers write)`);
        }
      }
      for (const withLogits of [false, true]) {
        const run = syntheticRun(shape, LOAD_TOKENS, { logits: withLogits, attention: false }, 99);
        const { id } = await ingest(store, shape, run, withLogits);
        const times: number[] = [];
        for (let repeat = 0; repeat < LOAD_REPEATS; repeat++) {
          const started = performance.now();
          const trace = await store.traces.get(id, { includeRawCot: true, sections: withLogits ? ['routing', 'logits'] : ['routing'] });
          times.push(performance.now() - started);
          if (trace?.tokens.length !== LOAD_TOKENS) throw new Error('loaded trace has the wrong length');
        }
        times.sort((a, b) => a - b);
        console.log(`${shape.name.padEnd(13)} load one ${LOAD_TOKENS}-token trace, ${withLogits ? 'routing + logits' : 'routing'}`.padEnd(51) + `   median ${times[LOAD_REPEATS >> 1].toFixed(0)} ms (min ${times[0].toFixed(0)}, max ${times[LOAD_REPEATS - 1].toFixed(0)}, ${LOAD_REPEATS} loads)`);
      }
    }
  } finally {
    await store.close();
  }
}

async function postgresUrl(): Promise<string | null> {
  const url = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return url;
  } catch {
    return null;
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'cotscope-bench-'));
try {
  const url = await postgresUrl();
  if (url) {
    const schema = `cotscope_bench_${process.pid}`;
    try {
      await benchBackend('PostgreSQL', { databaseUrl: url, schema });
    } finally {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  } else {
    console.log('\n== PostgreSQL: not reachable (set DATABASE_URL); skipped');
  }
  await benchBackend('PGlite', { databaseUrl: '', dataDir });
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
