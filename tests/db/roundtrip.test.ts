import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CorruptBlobError, type Store } from '../../lib/store/index';
import { BASE64_BYTES } from '../../lib/store/backend';
import { decodeHalf, encodeHalf } from '../../lib/trace/codec';
import { backendsUnderTest, codecV1Fixture, maxRelativeError, modelIdentity, syntheticRun, TINY_SHAPE } from './helpers';
import { openStore } from '../../lib/store/index';

const HALF_RELATIVE_ERROR = 2 ** -11;

for (const backend of backendsUnderTest()) {
  describe(`trace store round trip (${backend.name})`, () => {
    let store: Store;
    before(async () => { store = await openStore(backend.options); });
    after(async () => { await store.close(); await backend.cleanup(); });

    const newTrace = (seed: number) => ({
      model: modelIdentity(TINY_SHAPE), prompt: [{ role: 'user', content: 'What is two plus two?' }],
      promptId: `p${seed}`, effort: 'low', sampling: syntheticRun(TINY_SHAPE, seed).sampling,
    });

    test('a trace is visible as running until complete() flips it', async () => {
      const id = await store.traces.create(newTrace(1));
      const running = await store.traces.get(id, { includeRawCot: true });
      assert.equal(running?.status, 'running');
      assert.equal(running?.tokens.length, 0);
      await store.traces.complete(id, syntheticRun(TINY_SHAPE, 1), { chunkTokens: 8 });
      assert.equal((await store.traces.get(id, { includeRawCot: true }))?.status, 'complete');
    });

    test('a stored trace reads back equal to the run (f16 sections within 2^-11)', async () => {
      const run = syntheticRun(TINY_SHAPE, 2);
      const id = await store.traces.create(newTrace(2));
      await store.traces.complete(id, run, { chunkTokens: 7 }); // chunk edges fall mid-message
      const stored = await store.traces.get(id, { includeRawCot: true });
      assert.ok(stored && run.routing && run.attention && stored.routing && stored.attention);
      assert.deepEqual(stored.tokens, run.tokens);
      assert.deepEqual(stored.logprobs, run.logprobs);
      assert.deepEqual(stored.messages, run.messages);
      assert.deepEqual(stored.sampling, run.sampling);
      assert.deepEqual(stored.timings, run.timings);
      assert.equal(stored.device, run.device, 'where the run ran is trace metadata');
      assert.equal(stored.promptLength, run.promptLength);
      assert.equal(stored.stopReason, run.stopReason);
      assert.deepEqual(stored.model, run.model);
      assert.deepEqual(Array.from(stored.routing.experts), Array.from(run.routing.experts));
      assert.ok(maxRelativeError(stored.routing.weights, run.routing.weights) <= HALF_RELATIVE_ERROR);
      assert.ok(maxRelativeError(stored.routing.logits, run.routing.logits) <= HALF_RELATIVE_ERROR);
      assert.deepEqual(stored.attention.topPositions, run.attention.topPositions);
      assert.ok(maxRelativeError(stored.attention.sinkMass, run.attention.sinkMass) <= HALF_RELATIVE_ERROR);
      assert.ok(maxRelativeError(stored.attention.topWeights, run.attention.topWeights) <= HALF_RELATIVE_ERROR);
    });

    test('without raw CoT permission analysis text and its token ids are withheld', async () => {
      const run = syntheticRun(TINY_SHAPE, 3);
      const id = await store.traces.create(newTrace(3));
      await store.traces.complete(id, run);
      const stored = await store.traces.get(id, { includeRawCot: false });
      const analysis = stored?.messages.find((message) => message.channel === 'analysis');
      assert.ok(stored && analysis);
      assert.equal(analysis.content, '');
      assert.equal(analysis.redacted, true);
      assert.ok(stored.tokens.slice(analysis.tokenStart, analysis.tokenEnd).every((token) => token === -1));
      assert.equal(stored.messages.find((message) => message.channel === 'final')?.content, run.messages[2].content);
      assert.equal(stored.metadata.rawCotIncluded, false);
    });

    test('expert usage sums to tokens x layers x k per trace', async () => {
      const run = syntheticRun(TINY_SHAPE, 4);
      const id = await store.traces.create(newTrace(4));
      await store.traces.complete(id, run);
      const usage = await store.traces.usage(id);
      const total = usage.reduce((sum, row) => sum + row.count, 0);
      assert.equal(total, run.tokens.length * TINY_SHAPE.numLayers * TINY_SHAPE.topK);
      const analysis = run.messages[1];
      const analysisCount = usage.filter((row) => row.channel === 'analysis').reduce((sum, row) => sum + row.count, 0);
      assert.equal(analysisCount, (analysis.tokenEnd - analysis.tokenStart) * TINY_SHAPE.numLayers * TINY_SHAPE.topK);
    });

    test('a corrupted blob is reported as corrupt, naming the trace and chunk', async () => {
      const id = await store.traces.create(newTrace(5));
      await store.traces.complete(id, syntheticRun(TINY_SHAPE, 5), { chunkTokens: 16 });
      // Flip one byte inside the routing payload of the second chunk.
      await store.backend.prisma.$executeRawUnsafe(
        `UPDATE trace_chunks SET data = set_byte(data, 50, (get_byte(data, 50) + 1) % 256)
          WHERE trace_id = $1 AND section = 'routing' AND token_start = 16`, id);
      await assert.rejects(store.traces.get(id, { includeRawCot: true }), (error: unknown) => {
        assert.ok(error instanceof CorruptBlobError);
        assert.match(error.message, new RegExp(`trace ${id}.*section routing.*token 16.*sha256 mismatch`));
        return true;
      });
      // Sections not asked for are not read, so the rest of the trace stays usable.
      const tokensOnly = await store.traces.get(id, { includeRawCot: true, sections: ['tokens'] });
      assert.equal(tokensOnly?.routing, null);
      assert.equal(tokensOnly?.tokens.length, TINY_SHAPE.promptLength + TINY_SHAPE.generated);
    });

    test('a trace part over 8 MB, read chunk by chunk over several connections, reads back equal and still reports a corrupt chunk', async () => {
      const wide = { ...TINY_SHAPE, numLayers: 36, numExperts: 128, generated: 1200 }; // router logits ~10 MB as f16
      const run = syntheticRun(wide, 8);
      const id = await store.traces.create({ ...newTrace(8), model: modelIdentity(wide, 'synthetic-wide') });
      await store.traces.complete(id, run, { chunkTokens: 256 });
      const stored = await store.traces.get(id, { includeRawCot: true, sections: ['routing', 'logits'] });
      assert.ok(stored?.routing && run.routing);
      assert.deepEqual(Array.from(stored.routing.experts), Array.from(run.routing.experts));
      assert.ok(maxRelativeError(stored.routing.logits, run.routing.logits) <= HALF_RELATIVE_ERROR);
      await store.backend.prisma.$executeRawUnsafe(
        `UPDATE trace_chunks SET data = set_byte(data, 500, (get_byte(data, 500) + 1) % 256) WHERE trace_id = $1 AND section = 'logits' AND token_start = 512`, id);
      await assert.rejects(store.traces.get(id, { includeRawCot: true, sections: ['routing', 'logits'] }), new RegExp(`trace ${id}.*section logits.*token 512.*sha256 mismatch`));
    });

    test('a missing chunk is reported, not filled with zeros', async () => {
      const id = await store.traces.create(newTrace(6));
      await store.traces.complete(id, syntheticRun(TINY_SHAPE, 6), { chunkTokens: 16 });
      await store.backend.prisma.$executeRawUnsafe(`DELETE FROM trace_chunks WHERE trace_id = $1 AND section = 'attention' AND token_start = 0`, id);
      await assert.rejects(store.traces.get(id, { includeRawCot: true }), /corrupt capture blob \(section attention\): chunks do not tile/);
    });

    test('a failed trace cannot be completed afterwards', async () => {
      const id = await store.traces.create(newTrace(7));
      assert.equal(await store.traces.fail(id, 'runtime crashed'), true);
      await assert.rejects(store.traces.complete(id, syntheticRun(TINY_SHAPE, 7)), /is failed, not running/);
      const stored = await store.traces.get(id, { includeRawCot: true });
      assert.equal(stored?.status, 'failed');
      assert.equal(stored?.metadata.error, 'runtime crashed');
    });

    test('a write that fails mid-transaction leaves no chunks and the trace running', async () => {
      const id = await store.traces.create(newTrace(8));
      const run = syntheticRun(TINY_SHAPE, 8, { user: 'u', analysis: 'a', final: 'injected-failure' });
      // The database refuses the messages insert, which runs after the chunks insert.
      await store.backend.direct.exec(`
        CREATE FUNCTION refuse_message() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER refuse_message BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.text = 'injected-failure') EXECUTE FUNCTION refuse_message();`);
      try {
        await assert.rejects(store.traces.complete(id, run), /injected failure/);
      } finally {
        await store.backend.direct.exec('DROP TRIGGER refuse_message ON messages; DROP FUNCTION refuse_message();');
      }
      assert.equal(await store.backend.prisma.traceChunk.count({ where: { traceId: id } }), 0);
      assert.equal((await store.traces.get(id, { includeRawCot: true }))?.status, 'running');
    });

    test('attention that reaches back past 254 tokens (that layer widens to u16) reads back exactly', async () => {
      const long = { ...TINY_SHAPE, generated: 300 };
      const run = syntheticRun(long, 10);
      const { numLayers, numHeads, attentionTopK } = long;
      const fullLayer = 1;
      for (let token = 0; token < run.tokens.length; token++) {
        for (let head = 0; head < numHeads; head++) run.attention!.topPositions[((token * numLayers + fullLayer) * numHeads + head) * attentionTopK] = 0; // token 0, up to 311 back
      }
      const id = await store.traces.create(newTrace(10));
      await store.traces.complete(id, run);
      const stored = await store.traces.get(id, { includeRawCot: true, sections: ['attention'] });
      assert.deepEqual(stored?.attention?.topPositions, run.attention!.topPositions);
    });

    test('version-1 chunks stored before codec version 2 still load', async () => {
      const { run, chunkTokens, chunks } = codecV1Fixture();
      const id = await store.traces.create(newTrace(11));
      await store.traces.complete(id, run, { chunkTokens });
      for (const chunk of chunks) {
        await store.backend.fast.query(
          `UPDATE trace_chunks SET data = ${BASE64_BYTES.param(4)}, version = 1, byte_length = $5, sha256 = $6 WHERE trace_id = $1 AND section = $2 AND token_start = $3`,
          [id, chunk.section, chunk.tokenStart, BASE64_BYTES.value(chunk.bytes), chunk.bytes.length, chunk.sha256]);
      }
      const versions = await store.backend.fast.query<{ version: number }>('SELECT DISTINCT version FROM trace_chunks WHERE trace_id = $1', [id]);
      assert.deepEqual(versions.map((row) => row.version), [1]);
      const stored = await store.traces.get(id, { includeRawCot: true });
      assert.ok(stored?.attention && stored.routing);
      assert.deepEqual(stored.tokens, run.tokens);
      assert.deepEqual(stored.attention.topPositions, run.attention!.topPositions);
      assert.deepEqual(stored.attention.topWeights, decodeHalf(encodeHalf(run.attention!.topWeights)));
      assert.deepEqual(stored.routing.logits, decodeHalf(encodeHalf(run.routing!.logits)));
    });

    test('a NUL character in message text is stored as U+FFFD instead of failing the write', async () => {
      const id = await store.traces.create(newTrace(9));
      await store.traces.complete(id, syntheticRun(TINY_SHAPE, 9, { user: 'u', analysis: 'a', final: 'nul\u0000here' }));
      assert.equal((await store.traces.get(id, { includeRawCot: true }))?.messages[2].content, 'nul\uFFFDhere');
    });
  });
}
