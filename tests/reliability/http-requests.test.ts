/**
 * Hostile and careless HTTP requests against the built app (`npm start`'s production server, real
 * PGlite, real runtime): the caller is checked before a body is read, bodies are capped (memory
 * measured in the server process), inputs the database cannot take are refused with 400 and no
 * internals, a malformed cookie is no session, and the live-run queue is bounded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startApp, type RunningApp } from '../e2e/server';

const RESEARCHER = 'researcher-token-reliability-0123456789';
const VIEWER = 'viewer-token-reliability-0123456789';
const HUNDRED_MB = 100 * 1024 * 1024;
/** Server memory growth allowed while a 200 MB body is thrown at it. */
const MEMORY_BOUND_BYTES = 64 * 1024 * 1024;

let app: RunningApp;
let demoTraceId = '';

before(async () => {
  app = await startApp([], {
    COTSCOPE_USERS: JSON.stringify([{ name: 'rhea', role: 'researcher', token: RESEARCHER }, { name: 'vera', role: 'viewer', token: VIEWER }]),
    COTSCOPE_MAX_QUEUED_RUNS: '1',
  }, 600_000); // includes a production build (next build), minutes on a busy two-core machine
  const list = await fetch(`${app.url}/api/traces`, { headers: { authorization: `Bearer ${RESEARCHER}` } });
  demoTraceId = ((await list.json()) as { rows: { id: string }[] }).rows[0].id;
});

after(() => app?.stop());

function rssBytes(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(match![1]) * 1024;
}

interface UploadResult { status: number; body: string; sentBytes: number; peakGrowthBytes: number }

/**
 * Streams `totalBytes` of JSON-looking bytes to `path` (chunked, no Content-Length unless `declare`)
 * until the server answers, sampling the server's RSS meanwhile.
 */
function upload(path: string, totalBytes: number, headers: Record<string, string>, declare = false): Promise<UploadResult> {
  const baseline = rssBytes(app.pid);
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(app.pid)); }, 20);
  return new Promise((resolve, reject) => {
    const url = new URL(path, app.url);
    const request = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers, ...(declare ? { 'content-length': String(totalBytes) } : {}) },
    });
    let sent = 0;
    let answered = false;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const finish = (status: number, body: string) => {
      clearInterval(sampler);
      peak = Math.max(peak, rssBytes(app.pid));
      resolve({ status, body, sentBytes: sent, peakGrowthBytes: peak - baseline });
    };
    request.on('response', (response) => {
      answered = true;
      let body = '';
      response.on('data', (data: Buffer) => { body += data.toString(); });
      response.on('end', () => { request.destroy(); finish(response.statusCode ?? 0, body); });
    });
    request.on('error', (error) => { if (!answered) { clearInterval(sampler); reject(error); } });
    request.write('{"prompt":"');
    const pump = () => {
      while (!answered && sent < totalBytes) {
        sent += chunk.length;
        if (!request.write(chunk)) { request.once('drain', pump); return; }
      }
      if (!answered) request.end('"}');
    };
    pump();
  });
}

describe('request bodies', () => {
  test('an anonymous 200 MB body is refused with 401 before it is read, and server memory stays bounded', async () => {
    const result = await upload('/api/run', 2 * HUNDRED_MB, {});
    assert.equal(result.status, 401, result.body);
    assert.ok(result.peakGrowthBytes < MEMORY_BOUND_BYTES, `server memory grew ${(result.peakGrowthBytes / 2 ** 20).toFixed(0)} MiB`);
  });

  test("a researcher's 200 MB streamed body is cut off with 413 at the cap, and server memory stays bounded", async () => {
    const result = await upload('/api/run', 2 * HUNDRED_MB, { authorization: `Bearer ${RESEARCHER}` });
    assert.equal(result.status, 413, result.body);
    assert.match(result.body, /larger than \d+ bytes/);
    assert.ok(result.sentBytes < 2 * HUNDRED_MB, 'the server answered before the whole body arrived');
    assert.ok(result.peakGrowthBytes < MEMORY_BOUND_BYTES, `server memory grew ${(result.peakGrowthBytes / 2 ** 20).toFixed(0)} MiB`);
  });

  test('a declared Content-Length over the cap is refused with 413 without reading the body', async () => {
    const result = await upload('/api/run', 2 * HUNDRED_MB, { authorization: `Bearer ${RESEARCHER}` }, true);
    assert.equal(result.status, 413, result.body);
  });

  test('a body that is not declared as JSON is refused with 400', async () => {
    const response = await fetch(`${app.url}/api/run`, { method: 'POST', headers: { authorization: `Bearer ${RESEARCHER}`, 'content-type': 'text/plain' }, body: '{"prompt":"hi"}' });
    assert.equal(response.status, 400);
  });
});

const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('inputs the database cannot take', () => {
  const cases: [string, string][] = [
    ['search with NUL', 'search=a%00b'],
    ['model with NUL', 'model=a%00b'],
    ['collection NUL', 'collection=%00'],
    ['date before year 1', 'from=-004714-01-01'],
    ['createdAt cursor in year -271821', `cursor=${cursor(['-271821-04-20T00:00:00.000Z', 'x'])}`],
    ['tokenCount cursor "abc"', `sort=tokenCount&cursor=${cursor(['abc', 'x'])}`],
    ['tokenCount cursor 1e30', `sort=tokenCount&cursor=${cursor([1e30, 'x'])}`],
  ];
  for (const [name, query] of cases) {
    test(`${name} is answered 400 with a message and no internals`, async () => {
      const response = await fetch(`${app.url}/api/traces?${query}`, { headers: { authorization: `Bearer ${RESEARCHER}` } });
      const body = await response.text();
      assert.equal(response.status, 400, body);
      assert.doesNotMatch(body, /prisma|invalid `|\.ts:\d|at async|ConnectorError|PostgresError/i);
      assert.ok(!body.includes(demoTraceId), 'no trace id in the error');
      assert.match((JSON.parse(body) as { error: string }).error, /\w/);
    });
  }

  for (const [name, prompt] of [['NUL', 'a\u0000b'], ['unpaired surrogate', 'a\ud800b']] as const) {
    test(`a run prompt with a ${name} is refused with 400 before anything is stored`, async () => {
      const response = await fetch(`${app.url}/api/run`, {
        method: 'POST', headers: { authorization: `Bearer ${RESEARCHER}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt }),
      });
      const body = await response.text();
      assert.equal(response.status, 400, body);
      assert.match(body, /prompt: contains a (NUL character|lone surrogate)/);
    });
  }

  test('a malformed session cookie is no session: pages and the API answer without a server error', async () => {
    for (const path of ['/', `/traces/${demoTraceId}`, '/compare', '/run', '/api/traces']) {
      const response = await fetch(`${app.url}${path}`, { headers: { cookie: 'cotscope_session=%E0%A4%A' }, redirect: 'manual' });
      assert.notEqual(response.status, 500, `${path} answered 500`);
      assert.doesNotMatch(await response.text(), /URI malformed/);
    }
    const api = await fetch(`${app.url}/api/traces`, { headers: { cookie: 'cotscope_session=%E0%A4%A' } });
    assert.equal(api.status, 401);
  });
});

describe('live-run queue', () => {
  const runBody = (maxNewTokens: number) => JSON.stringify({ prompt: 'Count slowly.', maxNewTokens, temperature: 1, seed: 3 });
  const startRun = (maxNewTokens: number, signal?: AbortSignal) =>
    fetch(`${app.url}/api/run`, { method: 'POST', headers: { authorization: `Bearer ${RESEARCHER}`, 'content-type': 'application/json' }, body: runBody(maxNewTokens), signal });
  const traceCount = async () => ((await (await fetch(`${app.url}/api/traces?limit=1`, { headers: { authorization: `Bearer ${RESEARCHER}` } })).json()) as { total: number }).total;

  test('runs past the queue limit are refused with 503; a run abandoned while queued leaves no trace row', async () => {
    const before = await traceCount();
    const first = await startRun(4096);
    assert.equal(first.status, 200);
    const firstReader = first.body!.getReader();
    await firstReader.read(); // the first run is generating
    const abandon = new AbortController();
    const queued = await startRun(8, abandon.signal);
    assert.equal(queued.status, 200);
    const refused = await startRun(8);
    assert.equal(refused.status, 503, await refused.text());
    abandon.abort();
    await queued.body?.cancel().catch(() => undefined);
    await firstReader.cancel(); // cancels the first run: stored as cancelled
    // The queue drains: a new run is accepted and completes.
    let next: Response | null = null;
    for (let attempt = 0; attempt < 100; attempt++) {
      next = await startRun(4);
      if (next.status !== 503) break;
      await next.text();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(next!.status, 200);
    assert.match(await next!.text(), /event: done/);
    assert.equal(await traceCount(), before + 2, 'the first run and the last are stored; the abandoned queued run is not');
  });
});

describe('GET /api/export (streamed datasets)', () => {
  const get = (query: string, token: string) => fetch(`${app.url}/api/export?${query}`, { headers: { authorization: `Bearer ${token}` } });

  test("a viewer's streamed JSON Lines export holds no raw reasoning; raw needs researcher (403); a bad format is 400 naming it", async () => {
    // Viewers may read the filtered reasoning, so what must be absent is what the filter redacted.
    type View = { messages: { channel: string | null; content: string }[]; filtered: { redactions: { charStart: number; charEnd: number }[] } };
    const list = (await (await fetch(`${app.url}/api/traces?limit=50`, { headers: { authorization: `Bearer ${RESEARCHER}` } })).json()) as { rows: { id: string }[] };
    let traceId = '';
    let redacted: string[] = [];
    for (const { id } of list.rows) {
      const view = (await (await fetch(`${app.url}/api/traces/${id}`, { headers: { authorization: `Bearer ${RESEARCHER}` } })).json()) as View;
      const raw = view.messages.filter((message) => message.channel === 'analysis').map((message) => message.content).join('\n\n');
      redacted = view.filtered.redactions.map((redaction) => raw.slice(redaction.charStart, redaction.charEnd)).filter((text) => text.length >= 4);
      traceId = id;
      if (redacted.length > 0) break;
    }
    assert.ok(redacted.length > 0, 'the demo has a trace whose reasoning the filter redacts');
    const response = await get(`ids=${traceId}&format=jsonl&archive=none&include=routing,annotations`, VIEWER);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
    const body = await response.text();
    const row = JSON.parse(body.trim()) as { id: string; raw_cot: string | null; raw_cot_included: boolean; messages: { channel: string | null; text: string | null }[]; routing_experts: number[][][] };
    assert.equal(row.id, traceId);
    assert.equal(row.raw_cot, null);
    assert.equal(row.raw_cot_included, false);
    assert.ok(row.messages.filter((message) => message.channel === 'analysis').every((message) => message.text === null));
    for (const text of redacted) assert.ok(!body.includes(JSON.stringify(text).slice(1, -1)), `redacted text ${JSON.stringify(text)} is not in the export`);
    assert.ok(row.routing_experts.length > 0);
    const refused = await get('include=raw', VIEWER);
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: string }).error, /cannot export raw reasoning/);
    const bad = await get('format=csv', VIEWER);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /format/);
    assert.equal((await get('format=jsonl', '')).status, 401);
  });

  test("a researcher's zipped export streams the data file and the dataset card; the API document lists the route", async () => {
    const response = await get(`ids=${demoTraceId}&include=raw,routing`, RESEARCHER);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/zip');
    const zip = Buffer.from(await response.arrayBuffer());
    assert.equal(zip.subarray(0, 2).toString(), 'PK');
    assert.ok(zip.includes('data/train-00000-of-00001.parquet') && zip.includes('README.md'));
    const openapi = (await (await fetch(`${app.url}/api/openapi.json`)).json()) as { paths: Record<string, { get?: { parameters: { name: string }[] } }> };
    assert.ok(openapi.paths['/api/export']?.get?.parameters.some((parameter) => parameter.name === 'include'));
  });
});
