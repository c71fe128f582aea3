import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore, type Store, type TraceListItem } from '../../lib/store/index';
import { backendsUnderTest, modelIdentity, syntheticRun, TINY_SHAPE } from './helpers';

const SMALL = { ...TINY_SHAPE, promptLength: 4, generated: 6 };

interface Fixture { promptId: string; effort: string; collection?: string; tags?: string[]; analysis: string; final: string; status: 'complete' | 'failed' }

const FIXTURES: Fixture[] = [
  { promptId: 'a', effort: 'low', collection: 'red-team batch 3', tags: ['jailbreak'], analysis: 'Consider the chemistry of volcanoes carefully.', final: 'Volcanoes erupt because of magma pressure.', status: 'complete' },
  { promptId: 'b', effort: 'high', collection: 'red-team batch 3', analysis: 'The secret password is swordfish.', final: 'I cannot share that.', status: 'complete' },
  { promptId: 'c', effort: 'high', tags: ['jailbreak', 'reviewed'], analysis: 'Simple arithmetic question.', final: 'The answer is four.', status: 'complete' },
  { promptId: 'd', effort: 'medium', analysis: 'Thinking about oceans.', final: 'Oceans are salty.', status: 'failed' },
  { promptId: 'e', effort: 'low', analysis: 'Thinking about rivers.', final: 'Rivers flow downhill.', status: 'complete' },
];

for (const backend of backendsUnderTest()) {
  describe(`trace listing, filters, search and pagination (${backend.name})`, () => {
    let store: Store;
    const ids = new Map<string, string>();
    before(async () => {
      store = await openStore(backend.options);
      for (const [index, fixture] of FIXTURES.entries()) {
        const run = syntheticRun(SMALL, index, { user: `Prompt ${fixture.promptId}`, analysis: fixture.analysis, final: fixture.final });
        const id = await store.traces.create({
          model: modelIdentity(SMALL, index === 4 ? 'other-model' : 'synthetic-tiny'), prompt: [{ role: 'user', content: `Prompt ${fixture.promptId}` }],
          promptId: fixture.promptId, effort: fixture.effort, sampling: run.sampling, collection: fixture.collection, tags: fixture.tags,
        });
        if (fixture.status === 'complete') await store.traces.complete(id, run);
        else await store.traces.fail(id, 'boom');
        ids.set(fixture.promptId, id);
      }
    });
    after(async () => { await store.close(); await backend.cleanup(); });

    const promptIds = (items: TraceListItem[]) => items.map((item) => item.promptId).sort();

    test('filters by collection, tag, effort, status and model on the server', async () => {
      assert.deepEqual(promptIds((await store.traces.list({ collection: 'red-team batch 3' })).items), ['a', 'b']);
      assert.deepEqual(promptIds((await store.traces.list({ tag: 'jailbreak' })).items), ['a', 'c']);
      assert.deepEqual(promptIds((await store.traces.list({ effort: 'high' })).items), ['b', 'c']);
      assert.deepEqual(promptIds((await store.traces.list({ status: 'failed' })).items), ['d']);
      assert.deepEqual(promptIds((await store.traces.list({ model: 'other-model' })).items), ['e']);
      assert.deepEqual(promptIds((await store.traces.list({ effort: 'low', tag: 'jailbreak' })).items), ['a']);
    });

    test('date filters bound created time', async () => {
      const future = new Date(Date.now() + 60_000);
      assert.equal((await store.traces.list({ createdFrom: future })).items.length, 0);
      assert.equal((await store.traces.list({ createdTo: future })).items.length, FIXTURES.length);
    });

    test('text search finds final answers by stem and skips analysis unless raw CoT is allowed', async () => {
      assert.deepEqual(promptIds((await store.traces.list({ text: 'volcano' })).items), ['a']);
      assert.deepEqual(promptIds((await store.traces.list({ text: 'swordfish' })).items), []);
      assert.deepEqual(promptIds((await store.traces.list({ text: 'swordfish' }, { includeRawCot: true })).items), ['b']);
      const hidden = await store.search('swordfish', { includeRawCot: false });
      assert.equal(hidden.length, 0);
      const [hit] = await store.search('swordfish', { includeRawCot: true });
      assert.equal(hit.traceId, ids.get('b'));
      assert.equal(hit.channel, 'analysis');
      assert.match(hit.snippet, /\[\[swordfish\]\]/);
    });

    test('keyset pages cover every trace once, in order, for both sort keys', async () => {
      for (const sort of ['createdAt', 'tokenCount'] as const) {
        for (const direction of ['asc', 'desc'] as const) {
          const seen: TraceListItem[] = [];
          let cursor: string | null = null;
          do {
            const page = await store.traces.list({}, { sort, direction, cursor, limit: 2 });
            assert.ok(page.items.length <= 2);
            seen.push(...page.items);
            cursor = page.nextCursor;
          } while (cursor);
          assert.deepEqual(seen.map((item) => item.id).sort(), [...ids.values()].sort(), `${sort} ${direction}`);
          const keys = seen.map((item) => (sort === 'createdAt' ? Date.parse(item.createdAt) : item.tokenCount));
          const ordered = [...keys].sort((a, b) => (direction === 'asc' ? a - b : b - a));
          assert.deepEqual(keys, ordered, `${sort} ${direction}`);
        }
      }
    });

    test('a mangled cursor is a clear error', async () => {
      await assert.rejects(store.traces.list({}, { cursor: 'not-a-cursor' }), /invalid page cursor/);
    });

    test('collections and tags list their trace counts', async () => {
      assert.deepEqual(await store.collections.list(), [{ name: 'red-team batch 3', traces: 2 }]);
      await store.tags.add(ids.get('e')!, ['reviewed']);
      await store.tags.remove(ids.get('c')!, 'jailbreak');
      assert.deepEqual(await store.tags.list(), [{ name: 'jailbreak', traces: 1 }, { name: 'reviewed', traces: 2 }]);
    });

    test('total counts every trace matching the filters, on every page', async () => {
      const lowEffort = FIXTURES.filter((fixture) => fixture.effort === 'low').length;
      let cursor: string | null = null;
      do {
        const page = await store.traces.list({ effort: 'low' }, { cursor, limit: 1 });
        assert.equal(page.total, lowEffort);
        cursor = page.nextCursor;
      } while (cursor);
      assert.equal((await store.traces.list({}, { limit: 1 })).total, FIXTURES.length);
      assert.equal((await store.traces.list({ effort: 'no-such-effort' })).total, 0);
    });

    test('list items carry the run timings of completed traces, none for failed ones', async () => {
      const run = syntheticRun(SMALL, 0);
      const [complete] = (await store.traces.list({ promptId: 'a' })).items;
      assert.equal(complete.decodeTokensPerSecond, run.timings.decodeTokensPerSecond);
      assert.equal(complete.prefillTokensPerSecond, run.timings.prefillTokensPerSecond);
      assert.equal(complete.decodeMs, run.timings.decodeMs);
      const [failed] = (await store.traces.list({ promptId: 'd' })).items;
      assert.equal(failed.decodeTokensPerSecond, null);
    });

    test('list items carry a preview of the final answer', async () => {
      const { items } = await store.traces.list({ promptId: 'c' });
      assert.equal(items[0].finalPreview, 'The answer is four.');
    });
  });
}
