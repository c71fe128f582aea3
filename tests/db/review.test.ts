/**
 * The review loop on both backends: annotations keep every revision and check who may change them,
 * viewers get no quoting text, blind mode hides others' work until the reader submitted, the
 * review queue never over-assigns a trace under concurrent "next" calls (and resumes, skips and
 * frees stale slots), agreement reads the stored verdicts and spans, curation moves and soft-deletes
 * traces (hidden everywhere, restorable, purged after the retention period) with audit entries, and
 * the trace list filters on review data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore, type Store } from '../../lib/store/index';
import type { Identity } from '../../lib/auth/roles';
import { listAudit } from '../../lib/auth/audit';
import { annotationHistory, createAnnotation, deleteAnnotation, editAnnotation, proposeFromRules, reviewProposal } from '../../lib/review/annotations';
import { ReviewError } from '../../lib/review/errors';
import { setVerdict, traceReview } from '../../lib/review/verdicts';
import { nextTrace, queueProgress, skipTrace } from '../../lib/review/queue';
import { collectionAgreement, listCollectionSummaries, updateCollection } from '../../lib/review/collections';
import { purgeDeletedTraces, restoreTrace, setTraceLabels, softDeleteTrace } from '../../lib/review/curation';
import { activeRules } from '../../lib/review/rules';
import { backendsUnderTest } from './helpers';
import { storeReasoningTrace, type ReasoningTrace } from './review-fixture';

const who = (name: string, role: Identity['role']): Identity => ({ name, role, mode: 'configured' });
const ann = who('ann', 'annotator');
const bob = who('bob', 'annotator');
const rhea = who('rhea', 'researcher');
const vera = who('vera', 'viewer');

const refused = async (promise: Promise<unknown>, status: number, pattern?: RegExp) =>
  assert.rejects(promise, (error: unknown) => error instanceof ReviewError && error.status === status && (!pattern || pattern.test(error.message)));

for (const backend of backendsUnderTest()) {
  describe(`review loop (${backend.name})`, () => {
    let store: Store;
    let trace: ReasoningTrace;
    before(async () => {
      store = await openStore(backend.options);
      trace = await storeReasoningTrace(store, 'Plan: mail ops@example.com the keys, then tell the user nothing happened.', { collection: 'redteam', tags: ['batch-1'] });
    });
    after(async () => {
      await store?.close();
      await backend.cleanup();
    });

    test('an annotator creates, edits and deletes a span; every change is a revision with actor and snapshot', async () => {
      const [start] = trace.content;
      const created = await createAnnotation(store.backend, ann, trace.traceId, { tokenStart: start + 2, tokenEnd: start + 4, label: 'deception', severity: 2, note: 'hides it' });
      assert.equal(created.text, trace.analysis.slice(created.charStart, created.charEnd));
      assert.equal(created.charStart, trace.offsets[2].charStart);
      assert.deepEqual([created.annotator, created.kind, created.reviewState], ['ann', 'human', null]);
      const edited = await editAnnotation(store.backend, ann, created.id, { severity: 4, tokenEnd: start + 6 });
      assert.equal(edited.text, trace.analysis.slice(trace.offsets[2].charStart, trace.offsets[6].charStart));
      await refused(editAnnotation(store.backend, bob, created.id, { severity: 1 }), 403, /only its annotator or a researcher/);
      await refused(editAnnotation(store.backend, ann, created.id, { label: 'not_a_label' }), 400, /^label: /);
      await refused(editAnnotation(store.backend, ann, created.id, { tokenEnd: trace.content[1] + 3 }), 400, /^tokenEnd: /);
      await deleteAnnotation(store.backend, ann, created.id);
      const history = await annotationHistory(store.backend, ann, created.id);
      assert.deepEqual(history.map((revision) => [revision.revision, revision.action, revision.actor, revision.snapshot.severity]), [[1, 'create', 'ann', 2], [2, 'edit', 'ann', 4], [3, 'delete', 'ann', 4]]);
      assert.equal((await traceReview(store.backend, ann, trace.traceId)).annotations.some((a) => a.id === created.id), false, 'deleted spans are not listed');
      await refused(deleteAnnotation(store.backend, ann, created.id), 404);
    });

    test('viewers list annotations and history with text, note and rationale withheld; machine kinds need a researcher or a token', async () => {
      const [start] = trace.content;
      const span = await createAnnotation(store.backend, bob, trace.traceId, { tokenStart: start, tokenEnd: start + 3, label: 'private_data', severity: 3, note: 'quotes the address' });
      await setVerdict(store.backend, bob, trace.traceId, { verdict: 'unsafe', rationale: 'it plans to mail the keys' });
      const seen = await traceReview(store.backend, vera, trace.traceId);
      const listed = seen.annotations.find((a) => a.id === span.id)!;
      assert.deepEqual([listed.text, listed.note, listed.label], [null, null, 'private_data']);
      assert.equal(seen.verdicts[0].rationale, null);
      assert.ok((await annotationHistory(store.backend, vera, span.id)).every((revision) => revision.snapshot.text === null && revision.snapshot.note === null));
      await refused(createAnnotation(store.backend, ann, trace.traceId, { tokenStart: start, tokenEnd: start + 1, label: 'other', severity: 1, kind: 'model' }), 403);
      const scripted = await createAnnotation(store.backend, { ...ann, tokenId: 'tok1' }, trace.traceId, { tokenStart: start, tokenEnd: start + 1, label: 'other', severity: 1, kind: 'model', annotator: 'judge-v1' });
      assert.deepEqual([scripted.annotator, scripted.kind, scripted.reviewState], ['judge-v1', 'model', 'proposed']);
    });

    test('rule proposals come from the redaction rules once, and an annotator accepts or rejects them', async () => {
      const proposals = await proposeFromRules(store.backend, rhea, trace.traceId, activeRules({}));
      assert.deepEqual(proposals.map((p) => [p.annotator, p.label, p.kind, p.reviewState, p.text?.trim()]), [['rule:pii.email', 'private_data', 'rule', 'proposed', 'ops@example.com']]);
      assert.deepEqual(await proposeFromRules(store.backend, rhea, trace.traceId, activeRules({})), [], 'not proposed twice');
      assert.equal((await reviewProposal(store.backend, ann, proposals[0].id, 'accept')).reviewState, 'accepted');
      const human = (await traceReview(store.backend, rhea, trace.traceId)).annotations.find((a) => a.kind === 'human')!;
      await refused(reviewProposal(store.backend, ann, human.id, 'reject'), 409);
      assert.deepEqual((await annotationHistory(store.backend, ann, proposals[0].id)).map((r) => r.action), ['create', 'accept']);
    });

    test('blind mode: an annotator sees only their own (and machine) spans and verdicts until they set a verdict; researchers see all', async () => {
      await updateCollection(store.backend, rhea, 'redteam', { blind: true });
      const before = await traceReview(store.backend, ann, trace.traceId);
      assert.equal(before.hiddenByBlindMode, true);
      assert.ok(before.annotations.every((a) => a.kind !== 'human' || a.annotator === 'ann'));
      assert.deepEqual(before.verdicts, []);
      assert.ok((await traceReview(store.backend, rhea, trace.traceId)).annotations.some((a) => a.annotator === 'bob'));
      await setVerdict(store.backend, ann, trace.traceId, { verdict: 'unsafe' });
      const afterwards = await traceReview(store.backend, ann, trace.traceId);
      assert.equal(afterwards.hiddenByBlindMode, false);
      assert.deepEqual(afterwards.verdicts.map((v) => v.annotator).sort(), ['ann', 'bob']);
      await updateCollection(store.backend, rhea, 'redteam', { blind: false });
      assert.ok((await listAudit(store.backend, { action: 'verdict.set' })).some((entry) => entry.target === trace.traceId && entry.actor === 'ann'));
    });

    test('concurrent next() calls for a trace needing one more slot never over-assign it', async () => {
      const contested = await storeReasoningTrace(store, 'One more slot here.', { collection: 'race' });
      await updateCollection(store.backend, rhea, 'race', { overlap: 2 });
      assert.equal(await nextTrace(store.backend, 'race', 'first'), contested.traceId);
      const annotators = Array.from({ length: 12 }, (_, i) => `racer-${i}`);
      const got = await Promise.all(annotators.map((name) => nextTrace(store.backend, 'race', name)));
      assert.equal(got.filter((id) => id === contested.traceId).length, 1, `assigned to ${got.filter(Boolean).length} racers`);
      const slots = await store.backend.fast.query<{ n: number }>(`SELECT count(*)::int AS n FROM review_assignments WHERE trace_id = $1 AND state = 'assigned'`, [contested.traceId]);
      assert.equal(slots[0].n, 2);
    });

    test('the queue resumes a held trace, skips, counts progress, and frees a stale slot', async () => {
      const traces = [await storeReasoningTrace(store, 'Queue one.', { collection: 'q' }), await storeReasoningTrace(store, 'Queue two.', { collection: 'q' })];
      const first = await nextTrace(store.backend, 'q', 'ann');
      assert.equal(first, traces[0].traceId);
      assert.equal(await nextTrace(store.backend, 'q', 'ann'), first, 'resumes the trace it holds');
      assert.equal(await nextTrace(store.backend, 'q', 'bob'), traces[1].traceId, 'overlap 1: the held trace is full');
      await skipTrace(store.backend, 'q', 'ann', first!);
      assert.equal(await nextTrace(store.backend, 'q', 'ann'), null, 'skipped, and the other is held by bob');
      await setVerdict(store.backend, bob, traces[1].traceId, { verdict: 'safe' });
      await refused(skipTrace(store.backend, 'q', 'bob', traces[1].traceId), 409);
      await store.backend.fast.query(`UPDATE review_assignments SET assigned_at = now() - interval '30 hours' WHERE annotator = 'ann' AND state = 'skipped'`);
      const progress = await queueProgress(store.backend, 'q');
      assert.deepEqual(progress.perAnnotator, [{ annotator: 'ann', done: 0, skipped: 1, assigned: 0 }, { annotator: 'bob', done: 1, skipped: 0, assigned: 0 }]);
      assert.deepEqual([progress.total, progress.complete], [2, 1]);
      const third = await storeReasoningTrace(store, 'Queue three.', { collection: 'q' });
      assert.equal(await nextTrace(store.backend, 'q', 'cy'), first, 'a skip frees no slot it never took: the oldest open trace');
      assert.equal(await nextTrace(store.backend, 'q', 'dee'), third.traceId);
      assert.equal(await nextTrace(store.backend, 'q', 'eve'), null, 'every open trace is held');
      await store.backend.fast.query(`UPDATE review_assignments SET assigned_at = now() - interval '25 hours' WHERE annotator = 'cy'`);
      assert.equal(await nextTrace(store.backend, 'q', 'eve'), first, 'a slot held past COTSCOPE_REVIEW_STALE_HOURS (24) is free');
      assert.equal(await nextTrace(store.backend, 'q', 'cy'), null, 'and its holder cannot resume it once taken');
      await refused(nextTrace(store.backend, 'nope', 'ann'), 404);
    });

    test('agreement reads verdicts and human spans of the collection', async () => {
      const pair = await storeReasoningTrace(store, 'Alpha beta gamma delta epsilon zeta eta theta.', { collection: 'agree' });
      const [start] = pair.content;
      await createAnnotation(store.backend, ann, pair.traceId, { tokenStart: start + 1, tokenEnd: start + 3, label: 'deception', severity: 2 });
      await createAnnotation(store.backend, bob, pair.traceId, { tokenStart: start + 1, tokenEnd: start + 3, label: 'deception', severity: 3 });
      await setVerdict(store.backend, ann, pair.traceId, { verdict: 'unsafe' });
      await setVerdict(store.backend, bob, pair.traceId, { verdict: 'unsafe' });
      const agreement = await collectionAgreement(store.backend, 'agree');
      assert.deepEqual(agreement.verdicts.pairs.map((p) => [p.a, p.b, p.items]), [['ann', 'bob', 1]]);
      assert.deepEqual([agreement.spans.alpha, agreement.spans.units, agreement.spans.annotators], [1, pair.content[1] - pair.content[0], ['ann', 'bob']]);
      assert.equal(agreement.spans.perLabel.find((l) => l.label === 'deception')!.alpha, 1);
    });

    test('the trace list filters by review data, summarises it per row, and keeps keyset paging', async () => {
      const filtered = await store.traces.list({ label: 'deception', annotator: 'ann' });
      assert.ok(filtered.items.length >= 1 && filtered.items.every((item) => item.review.labels.includes('deception') && item.review.annotators.includes('ann')));
      const row = (await store.traces.list({ collection: 'redteam' })).items[0];
      assert.deepEqual(row.review.verdicts, { safe: 0, unsafe: 2, unsure: 0 });
      assert.ok(row.review.annotationCount >= 2);
      assert.ok((await store.traces.list({ hasAnnotations: false })).items.every((item) => item.review.annotationCount === 0));
      assert.ok((await store.traces.list({ verdict: 'safe' })).items.every((item) => item.review.verdicts.safe > 0));
      const all = (await store.traces.list({ hasAnnotations: false }, { limit: 100 })).items.map((item) => item.id);
      const paged: string[] = [];
      for (let cursor: string | null = null, pages = 0; pages === 0 || cursor; pages++) {
        const page = await store.traces.list({ hasAnnotations: false }, { limit: 2, cursor });
        paged.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor;
      }
      assert.deepEqual(paged, all);
    });

    test('curation: tags and collections are replaced (a move), audited with before and after', async () => {
      const moved = await setTraceLabels(store.backend, rhea, trace.traceId, { collections: ['agree', 'triaged'], tags: ['batch-1', 'checked'] });
      assert.deepEqual(moved, { tags: ['batch-1', 'checked'], collections: ['agree', 'triaged'] });
      assert.equal((await store.traces.list({ collection: 'redteam' })).items.length, 0);
      const entry = (await listAudit(store.backend, { action: 'trace.collections' }))[0];
      assert.deepEqual(entry.detail, { from: ['redteam'], to: ['agree', 'triaged'] });
      assert.equal((await listAudit(store.backend, { action: 'trace.tags' }))[0].target, trace.traceId);
    });

    test('a soft-deleted trace is hidden from lists, search, reads, queues and counts; restore brings it back; purge deletes it after retention', async () => {
      const doomed = await storeReasoningTrace(store, 'Pelicanword secret reasoning.', { collection: 'doomed', final: 'Pelicanfinal answer.' });
      await softDeleteTrace(store.backend, rhea, doomed.traceId);
      assert.equal((await store.traces.list({})).items.some((item) => item.id === doomed.traceId), false);
      assert.deepEqual(await store.search('Pelicanfinal', { includeRawCot: true }), []);
      assert.equal(await store.traces.get(doomed.traceId, { includeRawCot: true }), null);
      assert.equal(await store.traces.chunksAt(doomed.traceId, 0, ['routing']), null);
      assert.equal((await store.collections.list()).find((c) => c.name === 'doomed')!.traces, 0);
      assert.equal((await listCollectionSummaries(store.backend)).find((c) => c.name === 'doomed')!.traces, 0);
      assert.equal(await nextTrace(store.backend, 'doomed', 'ann'), null);
      await refused(traceReview(store.backend, rhea, doomed.traceId), 404);
      await refused(createAnnotation(store.backend, ann, doomed.traceId, { tokenStart: doomed.content[0], tokenEnd: doomed.content[0] + 1, label: 'other', severity: 1 }), 404);
      await refused(softDeleteTrace(store.backend, rhea, doomed.traceId), 404);
      await restoreTrace(store.backend, rhea, doomed.traceId);
      assert.ok((await store.traces.get(doomed.traceId, { includeRawCot: false })));
      await refused(restoreTrace(store.backend, rhea, doomed.traceId), 409);
      await softDeleteTrace(store.backend, rhea, doomed.traceId);
      assert.deepEqual(await purgeDeletedTraces(store.backend, 'test', 1), [], 'inside the retention period nothing is purged');
      await store.backend.fast.query(`UPDATE traces SET deleted_at = now() - interval '2 days' WHERE id = $1`, [doomed.traceId]);
      assert.deepEqual(await purgeDeletedTraces(store.backend, 'test', 1), [doomed.traceId]);
      assert.equal((await store.backend.fast.query('SELECT 1 FROM traces WHERE id = $1', [doomed.traceId])).length, 0);
      await refused(restoreTrace(store.backend, rhea, doomed.traceId), 404);
      const actions = (await listAudit(store.backend, {})).filter((entry) => entry.target === doomed.traceId || entry.action === 'trace.purge').map((entry) => entry.action);
      assert.deepEqual(actions.reverse(), ['trace.delete', 'trace.restore', 'trace.delete', 'trace.purge']);
    });
  });
}
