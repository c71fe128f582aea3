/**
 * Must-show: every route handler, server action and page, enumerated from the app/ tree itself (a
 * route added later is covered without editing this file), over real HTTP against the app. As an
 * anonymous caller and as a viewer, no response body, header, SSE event or error message contains
 * a marker word planted in a trace's raw analysis text (or in malformed reasoning, or in the
 * prompt's analysis); every mutation, and every POST a server action would take, without a
 * same-origin request is refused with 403; a foreign Host is refused; pages carry the security headers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startApp, type RunningApp } from './server';
import { ALL_MARKERS, plantData, type PlantedData } from './planted';

const APP_DIR = path.resolve(import.meta.dirname, '../../app');
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

interface Endpoint { kind: 'page' | 'route'; file: string; pattern: string; methods: string[] }

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

/** Every page, route handler and server-action file under app/, with its URL pattern and methods. */
function endpoints(): { endpoints: Endpoint[]; serverActionFiles: string[] } {
  const files = walk(APP_DIR);
  const urlOf = (file: string) => {
    const segments = path.relative(APP_DIR, path.dirname(file)).split(path.sep).filter((segment) => segment && !/^\(.*\)$/.test(segment) && !segment.startsWith('@'));
    return `/${segments.join('/')}`;
  };
  const found: Endpoint[] = [];
  for (const file of files) {
    const name = path.basename(file);
    if (/^page\.(tsx|ts|jsx|js)$/.test(name)) found.push({ kind: 'page', file, pattern: urlOf(file), methods: ['GET'] });
    if (/^route\.(ts|js)$/.test(name)) {
      const source = readFileSync(file, 'utf8');
      const methods = METHODS.filter((method) => new RegExp(`export\\s+(async\\s+)?function\\s+${method}\\b|export\\s+const\\s+${method}\\b`).test(source));
      found.push({ kind: 'route', file, pattern: urlOf(file), methods });
    }
  }
  const serverActionFiles = files.filter((file) => /\.(tsx?|jsx?)$/.test(file) && /^\s*['"]use server['"]/m.test(readFileSync(file, 'utf8')));
  return { endpoints: found, serverActionFiles };
}

let app: RunningApp;
let planted: PlantedData;

before(async () => {
  planted = await plantData();
  app = await startApp(['--dev', '--no-demo'], planted.env);
});

after(() => app?.stop());

function concrete(pattern: string): string[] {
  const filled = pattern.replace('[id]', planted.traceId).replace('[index]', String(planted.analysisToken))
    .replace('[annotationId]', planted.annotationId).replace('[name]', 'planted');
  if (/\[/.test(filled)) throw new Error(`no value for a dynamic segment of ${pattern}: teach concrete() its name`);
  const extra: Record<string, string[]> = {
    '/compare': [`/compare?a=${planted.traceId}&b=${planted.traceId}`],
    '/api/traces': [`/api/traces?search=${ALL_MARKERS.join('%20OR%20')}`, '/api/traces?search=quetzal'],
    [`/api/traces/${planted.traceId}/tokens/${planted.analysisToken}`]: [`/api/traces/${planted.traceId}/tokens/${planted.analysisToken}?layer=0`],
  };
  return [filled, ...(extra[filled] ?? [])];
}

const callers = () => ({ anonymous: {}, viewer: { authorization: `Bearer ${planted.tokens.viewer}` } }) as Record<string, Record<string, string>>;

async function readAll(response: Response): Promise<string> {
  const headers = [...response.headers.entries()].map(([key, value]) => `${key}: ${value}`).join('\n');
  return `${headers}\n\n${await response.text()}`;
}

function assertNoMarker(text: string, what: string): void {
  for (const marker of ALL_MARKERS) assert.ok(!text.toLowerCase().includes(marker.toLowerCase()), `${what} contains planted marker ${marker}`);
}

test('the app tree holds the pages and route handlers this test expects to find (the enumeration works)', () => {
  const { endpoints: found } = endpoints();
  const patterns = found.map((endpoint) => `${endpoint.kind} ${endpoint.pattern}`);
  for (const expected of ['page /', 'page /traces/[id]', 'page /compare', 'route /api/traces/[id]', 'route /api/run', 'route /api/session']) assert.ok(patterns.includes(expected), expected);
});

test('as anonymous and as viewer, no page, route, SSE stream or error message carries a planted marker', async () => {
  const { endpoints: found } = endpoints();
  const same = { origin: app.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' };
  for (const endpoint of found) {
    for (const url of concrete(endpoint.pattern)) {
      for (const [who, auth] of Object.entries(callers())) {
        for (const method of endpoint.methods) {
          const body = method === 'GET' ? undefined : JSON.stringify({ prompt: `tell me about ${ALL_MARKERS[0]}`.slice(0, 5), name: 'vera', password: 'x', action: 'add', role: 'admin' });
          const response = await fetch(`${app.url}${url}`, { method, headers: { ...auth, ...(method === 'GET' ? {} : same) }, body, redirect: 'manual' });
          assertNoMarker(await readAll(response), `${who} ${method} ${url} (${path.relative(APP_DIR, endpoint.file)})`);
          if (method !== 'GET' && endpoint.pattern !== '/api/session') assert.ok([401, 403].includes(response.status), `${who} ${method} ${url} was not refused (${response.status})`);
        }
      }
    }
  }
});

test('the viewer still gets the trace, with filtered reasoning in place of the marker', async () => {
  const response = await fetch(`${app.url}/api/traces/${planted.traceId}`, { headers: { authorization: `Bearer ${planted.tokens.viewer}` } });
  const view = await response.json();
  assert.match(view.filtered.text, /\[redacted: test marker\]/);
  assert.match(view.filtered.text, /\[private data: e-mail\]/);
  assert.ok(view.messages.some((message: { content: string }) => message.content.includes('The quetzal, a bird.')));
  const page = await fetch(`${app.url}/traces/${planted.traceId}`, { headers: { authorization: `Bearer ${planted.tokens.viewer}` } });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.ok(html.includes('The quetzal, a bird.') && html.includes('[redacted: test marker]'), 'the viewer page renders the final answer and the filtered reasoning');
});

test('every mutation and every page POST (server actions) without a same-origin request is refused with 403', async () => {
  const { endpoints: found, serverActionFiles } = endpoints();
  const crossSite: Record<string, string>[] = [
    { origin: 'https://evil.example', 'content-type': 'text/plain' },
    { origin: 'null', 'content-type': 'application/json' },
    { 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
  ];
  const targets = found.flatMap((endpoint) => concrete(endpoint.pattern).slice(0, 1).flatMap((url) =>
    endpoint.kind === 'page' ? [{ url, method: 'POST', extra: { 'next-action': 'x' } }] : endpoint.methods.filter((method) => method !== 'GET').map((method) => ({ url, method, extra: {} }))));
  assert.ok(targets.some((target) => target.url === '/api/run'), 'the live-run mutation is among them');
  for (const target of targets) {
    for (const headers of crossSite) {
      for (const auth of [{}, { authorization: `Bearer ${planted.tokens.admin}` }] as Record<string, string>[]) {
        const response = await fetch(`${app.url}${target.url}`, { method: target.method, headers: { ...headers, ...auth, ...target.extra }, body: '{"prompt":"hi"}', redirect: 'manual' });
        assert.equal(response.status, 403, `${target.method} ${target.url} with ${JSON.stringify(headers)} answered ${response.status}`);
      }
    }
  }
  // Next posts a server action to the URL of the page that renders it: every page URL was POSTed above.
  for (const file of serverActionFiles) assert.ok(found.some((endpoint) => endpoint.kind === 'page'), `server action file ${file}`);
});

test('a request for a foreign Host (DNS rebinding) is refused on every page and route', async () => {
  const { endpoints: found } = endpoints();
  const http = await import('node:http');
  for (const endpoint of found) {
    const url = new URL(concrete(endpoint.pattern)[0], app.url);
    const method = endpoint.methods.includes('GET') ? 'GET' : endpoint.methods[0];
    // What a rebinding page sends: its own name as Host, and (for a mutation) as Origin.
    const headers = { host: 'attacker.example', authorization: `Bearer ${planted.tokens.admin}`, ...(method === 'GET' ? {} : { origin: 'http://attacker.example', 'content-type': 'application/json' }) };
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end(method === 'GET' ? undefined : '{}');
    });
    assert.equal(status, 403, `${method} ${endpoint.pattern} answered ${status} for Host attacker.example`);
  }
});

test('pages and API responses carry CSP with frame-ancestors none, X-Frame-Options and nosniff', async () => {
  for (const url of ['/', `/traces/${planted.traceId}`, '/api/traces', '/login']) {
    const response = await fetch(`${app.url}${url}`, { headers: { authorization: `Bearer ${planted.tokens.viewer}` }, redirect: 'manual' });
    assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, url);
    assert.equal(response.headers.get('x-frame-options'), 'DENY', url);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', url);
  }
});
