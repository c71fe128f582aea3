/**
 * Request checks made before anything else, through the real route handlers over a real (embedded
 * PGlite) store: a foreign Host is refused (DNS rebinding), a cross-site mutation is refused in
 * local mode too, and sign-in is throttled.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

process.env.COTSCOPE_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'cotscope-requests-'));
process.env.DATABASE_URL = '';
process.env.COTSCOPE_USERS = '';
process.env.COTSCOPE_BCRYPT_ROUNDS = '4';

const server = await import('../../../lib/workbench/server');
const { addUser } = await import('../../../lib/auth/accounts');
const runRoute = await import('../../../app/api/run/route');
const listRoute = await import('../../../app/api/traces/route');
const sessionRoute = await import('../../../app/api/session/route');

after(() => server.closeWorkbench());

const post = (url: string, headers: Record<string, string>, body = '{"prompt":""}') =>
  new Request(url, { method: 'POST', body, headers: { host: new URL(url).host, ...headers } });

test('local mode: a cross-site text/plain POST to /api/run is refused with 403 before anything runs', async () => {
  const response = await runRoute.POST(post('http://127.0.0.1:3000/api/run', { origin: 'https://evil.example', 'content-type': 'text/plain' }, '{"prompt":"hi"}'));
  assert.equal(response.status, 403);
  assert.match((await response.json()).error, /cross-site/);
});

test('a mutation a browser marks cross-site (Sec-Fetch-Site) is refused even without Origin', async () => {
  const response = await runRoute.POST(post('http://127.0.0.1:3000/api/run', { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }));
  assert.equal(response.status, 403);
});

test('an Origin of "null" (sandboxed frame, data: URL) is cross-site', async () => {
  const response = await runRoute.POST(post('http://127.0.0.1:3000/api/run', { origin: 'null', 'content-type': 'application/json' }));
  assert.equal(response.status, 403);
});

test('a same-origin mutation still needs a JSON body (400), in local mode too', async () => {
  const same = { origin: 'http://127.0.0.1:3000', 'sec-fetch-site': 'same-origin' };
  assert.equal((await runRoute.POST(post('http://127.0.0.1:3000/api/run', { ...same, 'content-type': 'text/plain' }, '{"prompt":"hi"}'))).status, 400);
  assert.equal((await runRoute.POST(post('http://127.0.0.1:3000/api/run', { ...same, 'content-type': 'application/json' }))).status, 400, 'empty prompt fails validation: the checks passed');
});

test('a request for a Host that is neither loopback nor configured is refused (DNS rebinding)', async () => {
  const response = await listRoute.GET(new Request('http://attacker.example/api/traces', { headers: { host: 'attacker.example' } }));
  assert.equal(response.status, 403);
  assert.match((await response.json()).error, /host not allowed/);
  assert.equal((await listRoute.GET(new Request('http://localhost:3000/api/traces', { headers: { host: 'localhost:3000' } }))).status, 200);
});

test('a Host named in COTSCOPE_ALLOWED_HOSTS is served', async () => {
  process.env.COTSCOPE_ALLOWED_HOSTS = 'cotscope.lab.example, other.example:8443';
  try {
    assert.equal((await listRoute.GET(new Request('http://cotscope.lab.example/api/traces', { headers: { host: 'cotscope.lab.example' } }))).status, 200);
    assert.equal((await listRoute.GET(new Request('https://other.example:8443/api/traces', { headers: { host: 'other.example:8443' } }))).status, 200);
    assert.equal((await listRoute.GET(new Request('https://other.example:9000/api/traces', { headers: { host: 'other.example:9000' } }))).status, 403);
  } finally {
    delete process.env.COTSCOPE_ALLOWED_HOSTS;
  }
});

test('sign-in is cross-site protected and throttled: wrong guesses soon get 429 with Retry-After', async () => {
  await addUser((await server.store()).backend, { name: 'sam', role: 'viewer', password: 'a long enough password' });
  const login = (password: string, headers: Record<string, string> = {}) =>
    sessionRoute.POST(post('http://127.0.0.1:3000/api/session', { 'content-type': 'application/json', ...headers }, JSON.stringify({ name: 'sam', password })));
  assert.equal((await login('a long enough password', { origin: 'https://evil.example' })).status, 403);
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await login(`wrong guess ${i}`)).status);
  assert.deepEqual(statuses.slice(0, 10), new Array(10).fill(401));
  const limited = await login('wrong guess 13');
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
});

test('a signed-in session cookie is httpOnly, SameSite=Strict, expiring, Secure over HTTPS; logout clears it', async () => {
  await addUser((await server.store()).backend, { name: 'tia', role: 'viewer', password: 'another long password' });
  const response = await sessionRoute.POST(new Request('https://localhost/api/session', {
    method: 'POST', headers: { host: 'localhost', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'tia', password: 'another long password' }),
  }));
  assert.equal(response.status, 200);
  const cookie = response.headers.get('set-cookie') ?? '';
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Max-Age=\d{4,}/);
  assert.match(cookie, /Secure/);
  const value = cookie.split(';')[0];
  const out = await sessionRoute.DELETE(new Request('https://localhost/api/session', { method: 'DELETE', headers: { host: 'localhost', cookie: value } }));
  assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
  const after = await listRoute.GET(new Request('https://localhost/api/traces', { headers: { host: 'localhost', cookie: value } }));
  assert.equal(after.status, 401, 'the old cookie no longer signs in');
});
