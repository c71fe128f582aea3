/**
 * Trace datasets on both backends: a capture from a real generated checkpoint exported as Parquet
 * and read back by an independent reader (DuckDB), a viewer's export free of raw reasoning
 * (a marker word planted in the analysis text, annotation text, note and verdict rationale), the
 * round trip export -> import into an empty store -> export giving byte-identical data files,
 * idempotent import, and import of `traces get --json` documents.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { storedTraceJson } from '../../lib/cli/traces';
import { INCLUDE_PARTS } from '../../lib/datasets/columns';
import { exportDataset, folderOutput, type DatasetFormat } from '../../lib/datasets/export';
import { importDataset } from '../../lib/datasets/import';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { saveFilterOutput } from '../../lib/review/store';
import { renderPrompt } from '../../lib/runtime/prompt';
import { loadRuntime } from '../../lib/runtime/runtime';
import type { Runtime } from '../../lib/runtime/types';
import { openStore, type Store } from '../../lib/store/index';
import type { Identity } from '../../lib/auth/roles';
import { runCli } from '../reliability/processes';
import { backendsUnderTest, modelIdentity, syntheticRun, TINY_SHAPE } from './helpers';

const MARKER = 'zebraquokka';
const RESEARCHER: Identity = { name: 'ada', role: 'researcher', mode: 'configured' };
const VIEWER: Identity = { name: 'vic', role: 'viewer', mode: 'configured' };
const ALL_PARTS = [...INCLUDE_PARTS];

let modelDir: string;
let runtime: Runtime;
const scratch = mkdtempSync(join(tmpdir(), 'cotscope-datasets-'));

before(async () => {
  modelDir = mkdtempSync(join(tmpdir(), 'cotscope-datasets-model-'));
  await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 5 });
  runtime = await loadRuntime(modelDir);
});

after(async () => {
  await runtime?.close();
  rmSync(modelDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

async function exportTo(store: Store, identity: Identity, format: DatasetFormat, include: typeof ALL_PARTS, name: string) {
  const dir = join(scratch, name);
  const summary = await exportDataset(store, identity, { filters: {} }, { format, include, via: 'test', rowGroupTokens: 40 }, folderOutput(dir));
  return { dir, summary };
}

function dataFiles(dir: string): string[] {
  return readdirSync(join(dir, 'data')).sort().map((name) => join(dir, 'data', name));
}

async function duckRows(glob: string): Promise<{ columns: Record<string, string>; rows: Record<string, unknown>[] }> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${glob}')`);
  const columns = Object.fromEntries(described.getRowObjectsJson().map((row) => [String(row.column_name), String(row.column_type)]));
  const read = await connection.runAndReadAll(`SELECT * FROM read_parquet('${glob}') ORDER BY created_at, id`);
  const rows = read.getRowObjectsJson() as Record<string, unknown>[];
  connection.closeSync();
  db.closeSync();
  return { columns, rows };
}

for (const backend of backendsUnderTest()) {
  describe(`trace datasets (${backend.name})`, () => {
    let store: Store;
    let capturedId: string;
    let plantedId: string;

    before(async () => {
      store = await openStore(backend.options);
      const result = await runtime.generate({
        promptIds: renderPrompt({ user: 'Name three colors.', effort: 'low' }),
        sampling: { maxNewTokens: 24, temperature: 0.8, topP: 0.9, seed: 11 },
        capture: { routing: true, attention: true, attentionTopK: 4 },
      });
      const { config } = runtime;
      capturedId = await store.traces.create({
        model: { name: runtime.name, configHash: runtime.configHash, numLayers: config.numLayers, numExperts: config.numExperts, expertsPerToken: config.expertsPerToken,
          numHeads: config.numHeads, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize },
        prompt: [{ role: 'user', content: 'Name three colors.' }], promptId: 'colors', effort: 'low', sampling: result.sampling, collection: 'palette', tags: ['real'],
      });
      await store.traces.complete(capturedId, result, { chunkTokens: 16 });

      const planted = syntheticRun(TINY_SHAPE, 7, { user: 'What is two plus two?', analysis: `Thinking about ${MARKER} before answering.`, final: 'Four.' });
      planted.messages[2].tokenStart += 1; // a token outside every message: its token_channel is null
      plantedId = await store.traces.create({ model: modelIdentity(TINY_SHAPE), prompt: [{ role: 'user', content: 'What is two plus two?' }], sampling: planted.sampling, collection: 'palette' });
      await store.traces.complete(plantedId, planted);
      await saveFilterOutput(store.backend, plantedId, { filter: { name: 'policy', version: 'v1' }, text: 'Thinking about [redacted: secret] before answering.',
        redactions: [{ category: 'secret', ruleId: 'r1', charStart: 15, charEnd: 15 + MARKER.length, tokenStart: 13, tokenEnd: 14 }], summary: null });
      const { prisma } = store.backend;
      const span = { traceId: plantedId, messageIndex: 1, tokenStart: 12, tokenEnd: 15, charStart: 15, charEnd: 15 + MARKER.length, label: 'deception', severity: 3, annotator: 'ada' };
      await prisma.annotation.create({ data: { ...span, id: 'ann-live', text: MARKER, note: `note quoting ${MARKER}` } });
      await prisma.annotation.create({ data: { ...span, id: 'ann-deleted', text: 'gone', label: 'other', deletedAt: new Date() } });
      await prisma.verdict.create({ data: { traceId: plantedId, annotator: 'ada', verdict: 'unsafe', rationale: `because of ${MARKER}` } });

      const hidden = syntheticRun(TINY_SHAPE, 8);
      const hiddenId = await store.traces.create({ model: modelIdentity(TINY_SHAPE), prompt: [{ role: 'user', content: 'deleted' }], sampling: hidden.sampling });
      await store.traces.complete(hiddenId, hidden);
      await prisma.trace.update({ where: { id: hiddenId }, data: { deletedAt: new Date(), deletedBy: 'ada' } });
    });

    after(async () => { await store.close(); await backend.cleanup(); });

    test('DuckDB reads the exported Parquet with the documented schema and the stored values', async () => {
      const { dir, summary } = await exportTo(store, RESEARCHER, 'parquet', ALL_PARTS, `${backend.name}-duck`);
      assert.equal(summary.stats.rows, 2, 'the soft-deleted trace is left out');
      const { columns, rows } = await duckRows(join(dir, 'data', '*.parquet'));
      assert.equal(columns.tokens, 'INTEGER[]');
      assert.equal(columns.routing_experts, 'UTINYINT[][][]');
      assert.equal(columns.routing_weights, 'FLOAT[][][]');
      assert.equal(columns.attention_top_positions, 'INTEGER[][][][]');
      assert.match(columns.annotations, /^STRUCT\(id VARCHAR, message_index INTEGER.*\)\[\]$/);
      const stored = await store.traces.get(capturedId, { includeRawCot: true });
      assert.ok(stored?.routing && stored.attention);
      const row = rows.find((candidate) => candidate.id === capturedId)!;
      assert.deepEqual(row.tokens, stored.tokens);
      assert.deepEqual([row.device, stored.device], ['cpu', 'cpu'], 'the device that ran the capture, stored and exported');
      const { numLayers: L, topK: k, numTokens: T } = stored.routing;
      const experts = row.routing_experts as number[][][];
      const weights = row.routing_weights as number[][][];
      assert.equal(experts.length, T);
      for (let t = 0; t < T; t++) for (let l = 0; l < L; l++) for (let j = 0; j < k; j++) {
        assert.equal(experts[t][l][j], stored.routing.experts[(t * L + l) * k + j]);
        assert.equal(weights[t][l][j], stored.routing.weights[(t * L + l) * k + j]);
      }
      const logits = row.router_logits as number[][][];
      assert.equal(logits[3][1][2], stored.routing.logits[(3 * L + 1) * stored.routing.numExperts + 2], 'float16 logits read back as stored');
      assert.deepEqual((row.collections as string[]), ['palette']);
      const planted = rows.find((candidate) => candidate.id === plantedId)!;
      assert.deepEqual((planted.annotations as { id: string }[]).map((a) => a.id), ['ann-live']);
      assert.equal(planted.filtered_cot, 'Thinking about [redacted: secret] before answering.');
      assert.match(String(planted.raw_cot), new RegExp(MARKER));
      const card = readFileSync(join(dir, 'README.md'), 'utf8');
      assert.match(card, /^---\nlicense: "other"\n/);
      assert.match(card, /label_distribution:\n {4}"?deception"?: 1\n/);
      assert.match(card, /filter_versions:\n {4}- "policy@v1"\n/);
      assert.match(card, /devices:\n {6}- "cpu"\n/);
    });

    test('a viewer\'s export holds no raw reasoning anywhere, and a viewer cannot ask for it', async () => {
      await assert.rejects(exportTo(store, VIEWER, 'jsonl', ['raw'], `${backend.name}-refused`), /cannot export raw reasoning/);
      for (const format of ['parquet', 'jsonl'] as const) {
        const { dir } = await exportTo(store, VIEWER, format, ALL_PARTS.filter((part) => part !== 'raw'), `${backend.name}-viewer-${format}`);
        const decoded = format === 'parquet' ? JSON.stringify((await duckRows(join(dir, 'data', '*.parquet'))).rows) : dataFiles(dir).map((file) => readFileSync(file, 'utf8')).join('');
        assert.ok(decoded.includes('Four.'), 'the final answer is there');
        assert.ok(!decoded.includes(MARKER), `${format}: no raw reasoning in the data`);
        assert.ok(!readFileSync(join(dir, 'README.md'), 'utf8').includes(MARKER));
        if (format === 'jsonl') {
          const rows = readFileSync(dataFiles(dir)[0], 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { id: string; tokens: number[]; messages: { channel: string; token_start: number; token_end: number; text: string | null }[] });
          const planted = rows.find((row) => row.id === plantedId)!;
          const analysis = planted.messages.find((message) => message.channel === 'analysis')!;
          assert.equal(analysis.text, null);
          assert.ok(planted.tokens.slice(analysis.token_start, analysis.token_end).every((token) => token === -1), 'withheld token ids are -1');
        }
      }
    });

    test('export -> import into an empty store -> export gives byte-identical data, and import is idempotent by id', async () => {
      for (const format of ['parquet', 'jsonl'] as const) {
        const first = await exportTo(store, RESEARCHER, format, ALL_PARTS, `${backend.name}-first-${format}`);
        const target = await openStore({ ...backend.options, ...(backend.name === 'pglite' ? { dataDir: mkdtempSync(join(scratch, 'pglite-')) } : { schema: `${backend.options.schema}_${format}` }) });
        try {
          const imported = await importDataset(target, first.dir, 'ada');
          assert.deepEqual([imported.imported, imported.skipped], [2, 0]);
          const again = await importDataset(target, first.dir, 'ada');
          assert.deepEqual([again.imported, again.skipped], [0, 2]);
          const second = await exportTo(target, RESEARCHER, format, ALL_PARTS, `${backend.name}-second-${format}`);
          const files = dataFiles(first.dir);
          assert.deepEqual(dataFiles(second.dir).map((file) => file.split('/').pop()), files.map((file) => file.split('/').pop()));
          files.forEach((file, index) => assert.ok(readFileSync(file).equals(readFileSync(dataFiles(second.dir)[index])), `${format}: ${file} round-trips byte for byte`));
          assert.equal(readFileSync(join(second.dir, 'README.md'), 'utf8'), readFileSync(join(first.dir, 'README.md'), 'utf8'));
        } finally {
          if (backend.name === 'postgres') await target.backend.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${backend.options.schema}_${format}" CASCADE`);
          await target.close();
        }
      }
    });

    test('a malformed row is refused naming the file, the row and the field, and the rows before it stay', async () => {
      const { dir } = await exportTo(store, RESEARCHER, 'jsonl', ALL_PARTS, `${backend.name}-malformed`);
      const [file] = dataFiles(dir);
      const [good, other] = readFileSync(file, 'utf8').trim().split('\n');
      writeFileSync(file, `${good}\n${JSON.stringify({ ...JSON.parse(other), tokens: 'not a list' })}\n`);
      const target = await openStore({ ...backend.options, ...(backend.name === 'pglite' ? { dataDir: mkdtempSync(join(scratch, 'pglite-')) } : { schema: `${backend.options.schema}_bad` }) });
      try {
        await assert.rejects(importDataset(target, dir, 'ada'), /train-00000-of-00001\.jsonl row 2: tokens: /);
        assert.equal((await target.traces.list({ status: 'complete' })).total, 1, 'the good row before it is stored');
      } finally {
        if (backend.name === 'postgres') await target.backend.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${backend.options.schema}_bad" CASCADE`);
        await target.close();
      }
    });

    test('the CLI streams traces get --json (the same document), and cotscope import reads it back as the same trace', async () => {
      const stored = await store.traces.get(capturedId, { includeRawCot: true });
      // PGlite allows one process per data folder: the CLI opens it while this test's store is closed.
      if (backend.name === 'pglite') await store.close();
      const printed = await runCli(['traces', 'get', capturedId, '--json', '--raw-cot'], backend.childEnv);
      if (backend.name === 'pglite') store = await openStore(backend.options);
      assert.equal(printed.code, 0, printed.stderr);
      assert.equal(printed.stdout, `${JSON.stringify(storedTraceJson(stored!))}\n`);
      const file = join(scratch, `${backend.name}-cli.json`);
      writeFileSync(file, printed.stdout);
      const dataDir = mkdtempSync(join(scratch, 'pglite-cli-'));
      const imported = await runCli(['import', file], { COTSCOPE_DATA_DIR: dataDir, DATABASE_URL: '' });
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stdout, /imported 1 traces, skipped 0/);
    });

    test('a traces get --json document imports as the trace it describes', async () => {
      const stored = await store.traces.get(capturedId, { includeRawCot: true });
      assert.ok(stored);
      const file = join(scratch, `${backend.name}-trace.json`);
      writeFileSync(file, JSON.stringify(storedTraceJson(stored)));
      const target = await openStore({ ...backend.options, ...(backend.name === 'pglite' ? { dataDir: mkdtempSync(join(scratch, 'pglite-')) } : { schema: `${backend.options.schema}_doc` }) });
      try {
        assert.equal((await importDataset(target, file, 'ada')).imported, 1);
        const copy = await target.traces.get(capturedId, { includeRawCot: true });
        assert.ok(copy);
        // The owner (pid, host, heartbeat) is the capturing process, not data: it does not travel.
        const withoutOwner = (document: ReturnType<typeof storedTraceJson>) => ({ ...document, metadata: { ...document.metadata, owner: null } });
        assert.deepEqual(withoutOwner(storedTraceJson(copy)), withoutOwner(storedTraceJson(stored)));
      } finally {
        if (backend.name === 'postgres') await target.backend.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${backend.options.schema}_doc" CASCADE`);
        await target.close();
      }
    });
  });
}
