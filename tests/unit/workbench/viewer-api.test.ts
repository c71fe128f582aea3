/**
 * Raw chain of thought never reaches a viewer through the workbench API: the real route handlers
 * over a real (embedded PGlite) store, with users configured through COTSCOPE_USERS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderConversation } from '../../../lib/harmony/render';
import { parseTokens } from '../../../lib/harmony/parser';
import { encode } from '../../../lib/harmony/tokenizer';
import { storedTraceJson } from '../../../lib/cli/traces';
import { listAudit } from '../../../lib/auth/audit';
import type { RunResult } from '../../../lib/trace/types';

const VIEWER = 'viewer-token-0123456789abcdef';
const RESEARCHER = 'researcher-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const SECRET = 'pelicans';

process.env.COTSCOPE_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'cotscope-viewer-'));
// Viewers read reasoning only through the filter: the planted secret is in this policy's lexicon.
const RULES_FILE = path.join(process.env.COTSCOPE_DATA_DIR, 'rules.json');
writeFileSync(RULES_FILE, JSON.stringify({ name: 'test-policy', version: '1', lexicons: [{ category: 'test marker', ruleId: 'lexicon.marker', terms: [SECRET] }] }));
process.env.COTSCOPE_FILTER_RULES = RULES_FILE;
process.env.DATABASE_URL = '';
process.env.COTSCOPE_USERS = JSON.stringify([
  { name: 'vera', role: 'viewer', token: VIEWER },
  { name: 'rhea', role: 'researcher', token: RESEARCHER },
  { name: 'adam', role: 'admin', token: ADMIN },
]);

const server = await import('../../../lib/workbench/server');
const traceRoute = await import('../../../app/api/traces/[id]/route');
const listRoute = await import('../../../app/api/traces/route');
const tokenRoute = await import('../../../app/api/traces/[id]/tokens/[index]/route');
const runRoute = await import('../../../app/api/run/route');
const adminUsersRoute = await import('../../../app/api/admin/users/route');
const adminTokensRoute = await import('../../../app/api/admin/tokens/route');
const adminAuditRoute = await import('../../../app/api/admin/audit/route');

let traceId = '';
let analysisToken = -1;

before(async () => {
  const tokens = renderConversation(
    [
      { role: 'user', content: 'Which birds?' },
      { role: 'assistant', channel: 'analysis', content: `The secret plan involves ${SECRET} at dawn.` },
      { role: 'assistant', channel: 'final', content: 'Some birds.' },
    ],
    { forCompletion: false, dropAnalysis: false },
  );
  const messages = parseTokens(tokens);
  const analysis = messages.find((message) => message.channel === 'analysis');
  assert.ok(analysis && analysis.content.includes(SECRET), 'the fixture has an analysis message');
  analysisToken = analysis.tokenStart + 4;
  const sampling = { temperature: 1, topP: 1, seed: 0, maxNewTokens: 16 };
  const result: RunResult = {
    model: { name: 'fixture', configHash: 'fixture' },
    tokens,
    promptLength: 5,
    messages,
    logprobs: new Array(tokens.length - 5).fill(0),
    routing: null,
    attention: null,
    sampling,
    stopReason: 'stop_token',
    timings: { prefillMs: 1, decodeMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
  };
  const store = await server.store();
  const model = { name: 'fixture', configHash: 'fixture', numLayers: 1, numExperts: 2, expertsPerToken: 1, numHeads: 1, hiddenSize: 8, vocabSize: 201088 };
  traceId = await store.traces.create({ model, prompt: [{ role: 'user', content: 'Which birds?' }], effort: 'low', sampling });
  await store.traces.complete(traceId, result);
});

/** Malformed reasoning as a model might write it: every LEAK word is assistant text that is not a final answer. */
const MALFORMED =
  '<|start|>user<|message|>Which birds?<|end|>' +
  '<|start|>assistant<|channel|>analysis HEADERLEAK plan<|end|>' +
  '<|start|>assistant<|channel|>Analysis<|message|>CASELEAK thinking<|end|>' +
  'STRAYLEAK after the end' +
  '<|start|>user<|message|>FAKEUSERLEAK<|end|>' +
  '<|start|>assistant<|channel|>final<|message|>Visible answer.<|return|>';
const LEAKS = ['HEADERLEAK', 'CASELEAK', 'STRAYLEAK', 'FAKEUSERLEAK', 'PROMPTLEAK'];
let malformedId = '';

before(async () => {
  const tokens = encode(MALFORMED, { allowSpecial: true });
  const promptLength = encode('<|start|>user<|message|>Which birds?<|end|>', { allowSpecial: true }).length + 2;
  const sampling = { temperature: 1, topP: 1, seed: 0, maxNewTokens: 64 };
  const result: RunResult = {
    model: { name: 'fixture', configHash: 'fixture' }, tokens, promptLength, messages: parseTokens(tokens),
    logprobs: new Array(tokens.length - promptLength).fill(0), routing: null, attention: null, sampling, stopReason: 'stop_token',
    timings: { prefillMs: 1, decodeMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
  };
  const store = await server.store();
  const model = { name: 'fixture', configHash: 'fixture', numLayers: 1, numExperts: 2, expertsPerToken: 1, numHeads: 1, hiddenSize: 8, vocabSize: 201088 };
  const prompt = [{ role: 'user', content: 'Which birds?' }, { role: 'assistant', channel: 'analysis', content: 'PROMPTLEAK earlier thought' }];
  malformedId = await store.traces.create({ model, prompt, effort: 'low', sampling });
  await store.traces.complete(malformedId, result);
});

after(() => server.closeWorkbench());

test('fail-closed: malformed reasoning (header words, wrong-case channel, text after <|end|>, generated user turn) never reaches a viewer', async () => {
  const body = await (await traceRoute.GET(request(`/api/traces/${malformedId}`, VIEWER), params({ id: malformedId }))).text();
  for (const leak of LEAKS) assert.ok(!body.includes(leak), `${leak} reached a viewer`);
  assert.ok(body.includes('Visible answer.'), 'the final answer is served');
  const researcherBody = await (await traceRoute.GET(request(`/api/traces/${malformedId}`, RESEARCHER), params({ id: malformedId }))).text();
  for (const leak of ['HEADERLEAK', 'CASELEAK', 'STRAYLEAK']) assert.ok(researcherBody.includes(leak), `a researcher reads ${leak}`);
});

test("fail-closed: a viewer's search finds no trace by malformed reasoning, a researcher's does", async () => {
  for (const leak of ['CASELEAK', 'STRAYLEAK', 'FAKEUSERLEAK']) {
    const viewerRows = (await (await listRoute.GET(request(`/api/traces?search=${leak}`, VIEWER))).json()).rows;
    assert.equal(viewerRows.length, 0, `viewer found ${leak}`);
    const researcherRows = (await (await listRoute.GET(request(`/api/traces?search=${leak}`, RESEARCHER))).json()).rows;
    assert.deepEqual(researcherRows.map((row: { id: string }) => row.id), [malformedId]);
  }
  const hits = await (await server.store()).search('CASELEAK OR STRAYLEAK', { includeRawCot: false });
  assert.deepEqual(hits, [], 'no snippet of withheld text');
});

test('traces get --json without --raw-cot prints no analysis text, not even one that came in the prompt', async () => {
  const store = await server.store();
  const json = JSON.stringify(storedTraceJson((await store.traces.get(malformedId, { includeRawCot: false }))!));
  for (const leak of LEAKS) assert.ok(!json.includes(leak), `${leak} printed without --raw-cot`);
  const raw = JSON.stringify(storedTraceJson((await store.traces.get(malformedId, { includeRawCot: true }))!));
  assert.ok(raw.includes('PROMPTLEAK') && raw.includes('CASELEAK'));
});

const request = (url: string, token: string | null, init: RequestInit = {}) =>
  new Request(`http://localhost${url}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
const params = <T>(value: T) => ({ params: Promise.resolve(value) });

test('a viewer gets no analysis text from the trace API', async () => {
  const response = await traceRoute.GET(request(`/api/traces/${traceId}`, VIEWER), params({ id: traceId }));
  assert.equal(response.status, 200);
  const body = await response.text();
  assert.ok(!body.includes(SECRET), 'raw chain of thought leaked to a viewer');
  assert.ok(body.includes('Some birds'), 'the final answer is still served');
  const { filtered } = JSON.parse(body);
  assert.equal(filtered.text, 'The secret plan involves [redacted: test marker] at dawn.', 'the viewer reads the filtered reasoning');
  assert.deepEqual(filtered.filter.name, 'test-policy');
  assert.deepEqual(Object.keys(filtered.redactions[0]).sort(), ['category', 'charEnd', 'charStart', 'ruleId', 'tokenEnd', 'tokenStart']);
});

test('a researcher gets the analysis text from the same API, and the script read is audited', async () => {
  const response = await traceRoute.GET(request(`/api/traces/${traceId}`, RESEARCHER), params({ id: traceId }));
  assert.ok((await response.text()).includes(SECRET));
  const reads = await listAudit((await server.store()).backend, { action: 'raw.read' });
  assert.ok(reads.some((record) => record.target === traceId && record.actor.startsWith('rhea (token ')), 'raw.read audited');
});

test("a script reading a reasoning token's text is audited as a raw read", async () => {
  const via = (record: { target: string | null; detail: unknown }) => record.target === traceId && JSON.stringify(record.detail).includes('/tokens/:index');
  const before = (await listAudit((await server.store()).backend, { action: 'raw.read' })).filter(via).length;
  const response = await tokenRoute.GET(request(`/api/traces/${traceId}/tokens/${analysisToken}`, RESEARCHER), params({ id: traceId, index: String(analysisToken) }));
  assert.equal((await response.json()).withheld, false);
  const after = (await listAudit((await server.store()).backend, { action: 'raw.read' })).filter(via).length;
  assert.equal(after, before + 1);
});

test('a viewer inspecting a reasoning token gets its routing but not its text', async () => {
  const response = await tokenRoute.GET(request(`/api/traces/${traceId}/tokens/${analysisToken}`, VIEWER), params({ id: traceId, index: String(analysisToken) }));
  const detail = await response.json();
  assert.equal(detail.withheld, true);
  assert.equal(detail.text, '');
  assert.equal(detail.token, -1);
});

test("a viewer's search cannot find a trace by a word of its raw reasoning", async () => {
  const viewerRows = (await (await listRoute.GET(request(`/api/traces?search=${SECRET}`, VIEWER))).json()).rows;
  const researcherRows = (await (await listRoute.GET(request(`/api/traces?search=${SECRET}`, RESEARCHER))).json()).rows;
  assert.equal(viewerRows.length, 0);
  assert.deepEqual(researcherRows.map((row: { id: string }) => row.id), [traceId]);
});

test('live runs, which stream raw reasoning, are refused to viewers and to anonymous callers', async () => {
  const body = JSON.stringify({ prompt: 'hi' });
  const init = { method: 'POST', body, headers: { 'content-type': 'application/json' } };
  assert.equal((await runRoute.POST(request('/api/run', VIEWER, init))).status, 403);
  assert.equal((await runRoute.POST(request('/api/run', null, init))).status, 401);
});

test('a malformed request is refused with a message naming the field', async () => {
  const response = await listRoute.GET(request('/api/traces?status=sleeping', RESEARCHER));
  assert.equal(response.status, 400);
  assert.match((await response.json()).error, /status/);
});

test('only admins manage users and tokens and read the audit log; every change is audited', async () => {
  const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  for (const token of [VIEWER, RESEARCHER]) {
    assert.equal((await adminUsersRoute.POST(request('/api/admin/users', token, json({ action: 'add', name: 'mallory', role: 'admin' })))).status, 403);
    assert.equal((await adminAuditRoute.GET(request('/api/admin/audit', token))).status, 403);
    assert.equal((await adminUsersRoute.GET(request('/api/admin/users', token))).status, 403);
  }
  assert.equal((await adminUsersRoute.POST(request('/api/admin/users', ADMIN, json({ action: 'add', name: 'nia', role: 'annotator' })))).status, 200);
  const created = await (await adminTokensRoute.POST(request('/api/admin/tokens', ADMIN, json({ action: 'create', user: 'nia', name: 'script' })))).json();
  assert.match(created.token, /^cst_/);
  const asNia = await traceRoute.GET(request(`/api/traces/${traceId}`, created.token), params({ id: traceId }));
  assert.ok((await asNia.text()).includes(SECRET), 'an annotator reads raw reasoning');
  assert.equal((await adminTokensRoute.POST(request('/api/admin/tokens', ADMIN, json({ action: 'revoke', id: created.id })))).status, 200);
  assert.equal((await traceRoute.GET(request(`/api/traces/${traceId}`, created.token), params({ id: traceId }))).status, 401, 'a revoked token is refused');
  const users = (await (await adminUsersRoute.GET(request('/api/admin/users', ADMIN))).json()).users;
  assert.ok(!JSON.stringify(users).includes(created.token), 'the user list never shows a token');
  const events = (await (await adminAuditRoute.GET(request('/api/admin/audit?limit=50', ADMIN))).json()).events.map((event: { action: string }) => event.action);
  for (const action of ['user.add', 'token.create', 'token.revoke', 'raw.read']) assert.ok(events.includes(action), `${action} audited`);
});
