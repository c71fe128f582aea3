/**
 * The workbench reads only what a request needs, and concurrent requests for one trace share one
 * read; a capture section that a trace records but whose chunks are gone is corruption. Real
 * stores (PGlite, and PostgreSQL when configured), the workbench's real server module.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChunkSection } from '../../lib/trace/codec';
import { backendsUnderTest, modelIdentity, syntheticRun, withStore, type RunShape } from '../db/helpers';

const backends = backendsUnderTest(); // before the workbench below is pointed at its own PGlite folder
process.env.COTSCOPE_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'cotscope-loading-'));
process.env.DATABASE_URL = '';
delete process.env.COTSCOPE_USERS;

const server = await import('../../lib/workbench/server');
const { LOCAL_IDENTITY } = await import('../../lib/auth/identity');

/** gpt-oss-20b's routing and attention shape, 2,048 tokens: two 1,024-token chunks per section. */
const SHAPE_20B: RunShape = { numLayers: 24, numExperts: 32, topK: 4, numHeads: 64, attentionTopK: 8, promptLength: 48, generated: 2000 };

interface Reads { get: ChunkSection[][]; chunksAt: number[] }
let reads: Reads;
let traceId = '';

before(async () => {
  const store = await server.store();
  const run = syntheticRun(SHAPE_20B, 11);
  traceId = await store.traces.create({ model: modelIdentity(SHAPE_20B), prompt: [{ role: 'user', content: 'x' }], sampling: run.sampling });
  await store.traces.complete(traceId, run);
  // Count the store reads the workbench makes (the store itself runs unchanged).
  reads = { get: [], chunksAt: [] };
  const { get, chunksAt } = store.traces;
  store.traces.get = (id, options) => { reads.get.push(options.sections ?? []); return get(id, options); };
  store.traces.chunksAt = (id, index, sections) => { reads.chunksAt.push(index); return chunksAt(id, index, sections); };
});

after(() => server.closeWorkbench());

describe('trace loading in the workbench', () => {
  test('eight concurrent cold requests for one token share one read of the trace and one read of its chunk', async () => {
    const details = await Promise.all(Array.from({ length: 8 }, () => server.tokenDetail(traceId, 5, 0, LOCAL_IDENTITY)));
    assert.equal(reads.get.length, 1, `trace reads: ${JSON.stringify(reads.get)}`);
    assert.deepEqual(reads.get[0], ['tokens'], 'the token inspector reads token ids, not the whole capture');
    assert.deepEqual(reads.chunksAt, [5], 'one read of the chunks holding token 5');
    assert.equal(details[0].routing.length, SHAPE_20B.numLayers);
    assert.equal(details[0].attention.length, SHAPE_20B.numHeads);
    for (const detail of details.slice(1)) assert.deepEqual(detail, details[0]);
  });

  test('a token in the second chunk reads the chunks holding it once, and its values match the stored capture', async () => {
    reads.chunksAt.length = 0;
    const index = 1500;
    const detail = await server.tokenDetail(traceId, index, 2, LOCAL_IDENTITY);
    assert.deepEqual(reads.chunksAt, [index]);
    assert.equal((await server.tokenDetail(traceId, 1501, 2, LOCAL_IDENTITY)).index, 1501);
    assert.deepEqual(reads.chunksAt, [index], 'the next token comes from the same cached chunk');
    const run = syntheticRun(SHAPE_20B, 11);
    const slot = (index * SHAPE_20B.numLayers + 3) * SHAPE_20B.topK;
    assert.deepEqual(detail.routing[3].experts.map((entry) => entry.expert), Array.from(run.routing!.experts.subarray(slot, slot + SHAPE_20B.topK)));
    const sink = run.attention!.sinkMass[(index * SHAPE_20B.numLayers + 2) * SHAPE_20B.numHeads + 7];
    assert.ok(Math.abs(detail.attention[7].sinkMass - sink) <= Math.abs(sink) * 2 ** -11 + 1e-7);
  });

  test('the trace page reads token ids only; its capture sizes come from what the trace records', async () => {
    reads.get.length = 0;
    const view = await server.traceView(traceId, LOCAL_IDENTITY);
    assert.deepEqual(reads.get, [], 'served from the token-ids read the inspector already made');
    assert.deepEqual(view.routing, { numTokens: 2048, numLayers: 24, numExperts: 32, topK: 4 });
    assert.deepEqual(view.attention, { numTokens: 2048, numLayers: 24, numHeads: 64, topK: 8 });
  });

  test('the heatmap reads routing and router logits, never attention', async () => {
    reads.get.length = 0;
    await server.heatmapBytes(traceId);
    assert.deepEqual(reads.get, [['routing', 'logits']]);
  });
});

for (const backend of backends) {
  describe(`a missing capture section is corruption (${backend.name})`, () => {
    after(() => backend.cleanup());

    test('a trace whose only attention chunk was deleted fails to load, naming the section', async () => {
      const shape: RunShape = { numLayers: 2, numExperts: 4, topK: 2, numHeads: 2, attentionTopK: 2, promptLength: 4, generated: 6 };
      await withStore(backend, async (store) => {
        const run = syntheticRun(shape, 3);
        const id = await store.traces.create({ model: modelIdentity(shape), prompt: [{ role: 'user', content: 'x' }], sampling: run.sampling });
        await store.traces.complete(id, run);
        assert.ok((await store.traces.get(id, { includeRawCot: true }))!.attention);
        await store.backend.fast.query("DELETE FROM trace_chunks WHERE trace_id = $1 AND section = 'attention'", [id]);
        await assert.rejects(store.traces.get(id, { includeRawCot: true }), /section attention.*attention capture but its chunks are missing/);
        // Reading other sections still works.
        assert.ok((await store.traces.get(id, { includeRawCot: true, sections: ['routing'] }))!.routing);
      });
    });

    test('a trace captured without attention loads with attention null', async () => {
      const shape: RunShape = { numLayers: 2, numExperts: 4, topK: 2, numHeads: 2, attentionTopK: 2, promptLength: 4, generated: 6 };
      await withStore(backend, async (store) => {
        const run = { ...syntheticRun(shape, 4), attention: null };
        const id = await store.traces.create({ model: modelIdentity(shape), prompt: [{ role: 'user', content: 'x' }], sampling: run.sampling });
        await store.traces.complete(id, run);
        const loaded = await store.traces.get(id, { includeRawCot: true });
        assert.equal(loaded!.attention, null);
        assert.deepEqual(loaded!.metadata.capture, { sections: ['tokens', 'routing', 'logits'], attentionTopK: null });
      });
    });
  });
}
