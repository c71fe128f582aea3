/**
 * The review HTTP API over real HTTP against the app, on PGlite and (when DATABASE_URL is set)
 * PostgreSQL, with bearer tokens: an annotator creates, edits and deletes a span (201/200/204,
 * history kept); a viewer gets 403 creating and null text listing; a cross-site request gets 403;
 * concurrent "next trace" requests never over-assign; verdicts, agreement, list filters, soft
 * delete and restore; the OpenAPI document is generated from the schemas the routes validate with.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { startApp, type RunningApp } from './server';
import { MARKER, plantData, type PlantedData } from './planted';
import { backendsUnderTest } from '../db/helpers';
import { createAnnotationBody } from '../../lib/workbench/review-schemas';

for (const backend of backendsUnderTest()) {
  describe(`review API (${backend.name})`, () => {
    let app: RunningApp;
    let planted: PlantedData;

    before(async () => {
      planted = await plantData(backend.name === 'postgres' ? backend.options : undefined);
      app = await startApp(['--dev', '--no-demo'], { ...planted.env, ...(backend.name === 'postgres' ? backend.childEnv : {}) });
    });
    after(async () => {
      await app?.stop();
      await backend.cleanup();
    });

    const call = async (method: string, url: string, token: string, body?: unknown, extra: Record<string, string> = {}) => {
      const response = await fetch(`${app.url}${url}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, text, json: text ? JSON.parse(text) : null };
    };

    test('an annotator creates, edits and deletes a span: 201, 200, 204, and the history keeps all three', async () => {
      const [start] = planted.analysisContent;
      const created = await call('POST', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator, { tokenStart: start + 1, tokenEnd: start + 3, label: 'policy_evasion', severity: 3, note: 'n' });
      assert.equal(created.status, 201, created.text);
      const { annotation } = created.json;
      assert.equal(annotation.annotator, 'ana');
      assert.ok(annotation.text.length > 0 && annotation.charEnd > annotation.charStart);
      const edited = await call('PATCH', `/api/annotations/${annotation.id}`, planted.tokens.annotator, { severity: 4, label: 'deception' });
      assert.equal(edited.status, 200, edited.text);
      assert.deepEqual([edited.json.annotation.severity, edited.json.annotation.label], [4, 'deception']);
      const deleted = await call('DELETE', `/api/annotations/${annotation.id}`, planted.tokens.annotator);
      assert.equal(deleted.status, 204, deleted.text);
      const history = await call('GET', `/api/annotations/${annotation.id}/history`, planted.tokens.annotator);
      assert.deepEqual(history.json.revisions.map((r: { action: string }) => r.action), ['create', 'edit', 'delete']);
      const listed = await call('GET', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator);
      assert.equal(listed.json.annotations.some((a: { id: string }) => a.id === annotation.id), false);
      assert.ok(listed.json.taxonomy.some((label: { key: string }) => label.key === 'deception'));
    });

    test('bad spans and labels get a 400 naming the field; another annotator\'s span is 403 to edit', async () => {
      const bad = await call('POST', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator, { tokenStart: 0, tokenEnd: 2, label: 'deception', severity: 1 });
      assert.equal(bad.status, 400);
      assert.match(bad.json.error, /^tokenStart: /);
      const label = await call('POST', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator, { tokenStart: planted.analysisContent[0], tokenEnd: planted.analysisContent[0] + 1, label: 'nope', severity: 1 });
      assert.match(label.json.error, /^label: /);
      const severity = await call('POST', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator, { tokenStart: 1, tokenEnd: 2, label: 'other', severity: 9 });
      assert.equal(severity.status, 400);
      assert.match(severity.json.error, /body\.severity/);
      const notMine = await call('PATCH', `/api/annotations/${planted.annotationId}`, planted.tokens.viewer, { severity: 1 });
      assert.equal(notMine.status, 403);
      const researcherEdits = await call('PATCH', `/api/annotations/${planted.annotationId}`, planted.tokens.researcher, { severity: 1 });
      assert.equal(researcherEdits.status, 200, 'researchers may edit anyone\'s span');
    });

    test('a viewer gets 403 creating, and lists annotations with text and note withheld', async () => {
      const [start] = planted.analysisContent;
      const refused = await call('POST', `/api/traces/${planted.traceId}/annotations`, planted.tokens.viewer, { tokenStart: start, tokenEnd: start + 1, label: 'other', severity: 1 });
      assert.equal(refused.status, 403);
      const listed = await call('GET', `/api/traces/${planted.traceId}/annotations`, planted.tokens.viewer);
      assert.equal(listed.status, 200);
      assert.ok(!listed.text.includes(MARKER), 'no raw reasoning reaches a viewer');
      const planted0 = listed.json.annotations.find((a: { id: string }) => a.id === planted.annotationId);
      assert.deepEqual([planted0.text, planted0.note, planted0.label], [null, null, 'deception']);
      const asAnnotator = await call('GET', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator);
      assert.ok(asAnnotator.text.includes(MARKER), 'an annotator reads the quoted text');
    });

    test('a cross-site request gets 403, even with a valid token', async () => {
      const [start] = planted.analysisContent;
      for (const extra of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
        const response = await call('POST', `/api/traces/${planted.traceId}/annotations`, planted.tokens.annotator, { tokenStart: start, tokenEnd: start + 1, label: 'other', severity: 1 }, extra);
        assert.equal(response.status, 403);
        assert.equal((await call('PUT', `/api/traces/${planted.traceId}/verdict`, planted.tokens.annotator, { verdict: 'safe' }, extra)).status, 403);
      }
    });

    test('concurrent "next trace" requests never over-assign the last slot', async () => {
      const overlap = await call('PATCH', '/api/collections/planted', planted.tokens.researcher, { overlap: 1 });
      assert.equal(overlap.status, 200, overlap.text);
      const callers = [planted.tokens.annotator, planted.tokens.researcher, planted.tokens.admin];
      const answers = await Promise.all(callers.map((token) => call('POST', '/api/collections/planted/queue/next', token)));
      assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
      assert.equal(answers.filter((answer) => answer.json.traceId === planted.traceId).length, 1, JSON.stringify(answers.map((a) => a.json.traceId)));
      const progress = await call('GET', '/api/collections/planted/queue', planted.tokens.viewer);
      assert.equal(progress.json.progress.total, 1);
      assert.equal(progress.json.progress.perAnnotator.reduce((sum: number, row: { assigned: number }) => sum + row.assigned, 0), 1);
      assert.equal((await call('POST', '/api/collections/planted/queue/next', planted.tokens.viewer)).status, 403);
    });

    test('verdicts feed the agreement view; the trace list filters and summarises review data', async () => {
      assert.equal((await call('PUT', `/api/traces/${planted.traceId}/verdict`, planted.tokens.annotator, { verdict: 'unsafe', rationale: 'r' })).status, 200);
      const second = await call('PUT', `/api/traces/${planted.traceId}/verdict`, planted.tokens.researcher, { verdict: 'unsafe' });
      assert.deepEqual([second.status, second.json.verdict.annotator], [200, 'rhea']);
      const agreement = await call('GET', '/api/collections/planted/agreement', planted.tokens.viewer);
      assert.equal(agreement.status, 200);
      assert.deepEqual(agreement.json.verdicts.pairs.map((p: { a: string; b: string; items: number }) => [p.a, p.b, p.items]), [['ana', 'rhea', 1]]);
      assert.deepEqual(agreement.json.spans.annotators, ['ana', 'rhea']);
      assert.ok(agreement.json.spans.units > 0);
      const rows = await call('GET', '/api/traces?hasAnnotations=true&label=deception&verdict=unsafe&annotator=ana', planted.tokens.viewer);
      assert.deepEqual(rows.json.rows.map((row: { id: string }) => row.id), [planted.traceId]);
      assert.deepEqual(rows.json.rows[0].verdicts, { safe: 0, unsafe: 2, unsure: 0 });
      assert.equal((await call('GET', '/api/traces?hasAnnotations=false', planted.tokens.viewer)).json.rows.length, 0);
      const collections = await call('GET', '/api/collections', planted.tokens.viewer);
      assert.deepEqual(collections.json.collections.map((c: { name: string; verdicts: number }) => [c.name, c.verdicts]), [['planted', 2]]);
    });

    test('a soft-deleted trace is gone from the API until restored; both are audited', async () => {
      assert.equal((await call('DELETE', `/api/traces/${planted.traceId}`, planted.tokens.annotator)).status, 403);
      assert.equal((await call('DELETE', `/api/traces/${planted.traceId}`, planted.tokens.researcher)).status, 204);
      for (const url of [`/api/traces/${planted.traceId}`, `/api/traces/${planted.traceId}/annotations`, `/api/traces/${planted.traceId}/heatmap`]) {
        assert.equal((await call('GET', url, planted.tokens.researcher)).status, 404, url);
      }
      assert.equal((await call('GET', '/api/traces', planted.tokens.researcher)).json.rows.length, 0);
      const restored = await call('POST', `/api/traces/${planted.traceId}/restore`, planted.tokens.researcher);
      assert.equal(restored.status, 200, restored.text);
      assert.equal((await call('GET', `/api/traces/${planted.traceId}`, planted.tokens.researcher)).status, 200);
      const audit = await call('GET', '/api/admin/audit?limit=50', planted.tokens.admin);
      const actions = audit.json.events.filter((event: { target: string }) => event.target === planted.traceId).map((event: { action: string }) => event.action);
      for (const action of ['trace.delete', 'trace.restore', 'verdict.set']) assert.ok(actions.includes(action), action);
    });

    test('GET /api/openapi.json is an OpenAPI 3.1 document generated from the schemas the routes validate with', async () => {
      const response = await fetch(`${app.url}/api/openapi.json`);
      assert.equal(response.status, 200);
      const document = await response.json();
      assert.equal(document.openapi, '3.1.0');
      const create = document.paths['/api/traces/{id}/annotations'].post;
      const { $schema: _dialect, ...expected } = z.toJSONSchema(createAnnotationBody, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
      assert.deepEqual(create.requestBody.content['application/json'].schema, expected);
      for (const path of ['/api/annotations/{annotationId}', '/api/collections/{name}/agreement', '/api/collections/{name}/queue/next', '/api/traces']) assert.ok(document.paths[path], path);
    });
  });
}
