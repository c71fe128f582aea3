import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUsers, redactMessages, redactTokenTexts, WITHHELD_TEXT, WITHHELD_TOKEN, clientKey } from '../../../lib/auth';
import { FailureLimiter } from '../../../lib/auth/rate-limit';

test('a malformed users variable names the bad entry', () => {
  assert.throws(() => parseUsers('[{"name":"x","role":"boss","token":"0123456789abcdef"}]'), /COTSCOPE_USERS: entry 0.role/);
  assert.throws(() => parseUsers('{nope'), /not valid JSON/);
});

const traceMessages = [
  { role: 'user', channel: null, recipient: null, contentType: null, content: 'hi', tokenStart: 0, tokenEnd: 2, complete: true },
  { role: 'assistant', channel: 'analysis', recipient: null, contentType: null, content: 'secret plan', tokenStart: 2, tokenEnd: 4, complete: true },
  { role: 'assistant', channel: 'final', recipient: null, contentType: null, content: 'hello', tokenStart: 4, tokenEnd: 5, complete: true },
];
const viewer = { name: 'v', role: 'viewer' as const, mode: 'configured' as const };
const researcher = { name: 'r', role: 'researcher' as const, mode: 'configured' as const };

test('a viewer gets neither the analysis message text nor its token texts', () => {
  const messages = redactMessages(traceMessages, viewer, 2);
  assert.equal(messages[1].content, WITHHELD_TEXT);
  assert.equal(messages[2].content, 'hello');
  const tokens = redactTokenTexts(['h', 'i', 'secret', ' plan', 'hello'], traceMessages, viewer, 2);
  assert.ok(!tokens.join('').includes('secret') && !tokens.join('').includes('plan'));
  assert.equal(tokens[4], 'hello');
});

test('a researcher reads the raw analysis text', () => {
  assert.equal(redactMessages(traceMessages, researcher, 2)[1].content, 'secret plan');
});

const message = (role: string, channel: string | null, content: string, tokenStart: number, tokenEnd: number, extra: Record<string, unknown> = {}) =>
  ({ role, channel, recipient: null, contentType: null, content, tokenStart, tokenEnd, complete: true, ...extra });

test('fail-closed: only prompt text and assistant final answers reach a viewer, every other assistant text is withheld', () => {
  const messages = [
    message('user', null, 'question', 0, 2),
    message('assistant', 'Analysis', 'CASELEAK', 2, 4),
    message('assistant', 'analysis', '', 4, 6, { contentType: 'HEADERLEAK', complete: false }),
    message('unknown', null, 'STRAYLEAK', 6, 8, { complete: false }),
    message('assistant', 'commentary', 'PREAMBLELEAK', 8, 10),
    message('tool', 'commentary', 'TOOLLEAK', 10, 12, { name: 'functions.NAMELEAK' }),
    message('user', null, 'FAKEUSERLEAK', 12, 14),
    message('assistant', 'final', 'answer', 14, 16),
  ];
  const redacted = redactMessages(messages, viewer, 2);
  const json = JSON.stringify(redacted);
  for (const leak of ['CASELEAK', 'HEADERLEAK', 'STRAYLEAK', 'PREAMBLELEAK', 'TOOLLEAK', 'NAMELEAK', 'FAKEUSERLEAK', 'Analysis']) assert.ok(!json.includes(leak), `${leak} reached a viewer`);
  assert.deepEqual(redacted.map((m) => m.withheld), [false, true, true, true, true, true, true, false]);
  const texts = redactTokenTexts(Array.from({ length: 16 }, (_, i) => `t${i}`), messages, viewer, 2);
  assert.deepEqual(texts.map((text) => text !== WITHHELD_TOKEN), [true, true, ...new Array(12).fill(false), true, true]);
});

test('fail-closed: tokens outside every message are withheld from a viewer', () => {
  const texts = redactTokenTexts(['a', 'b', 'c'], [message('user', null, 'a', 0, 1)], viewer, 1);
  assert.deepEqual(texts, ['a', WITHHELD_TOKEN, WITHHELD_TOKEN]);
});

test('sign-in throttling tells clients apart by X-Forwarded-For only behind a trusted proxy', () => {
  const headers = new Headers({ 'x-forwarded-for': '203.0.113.9, 10.0.0.1' });
  assert.equal(clientKey(headers, {}), 'direct', 'a client cannot pick its own bucket');
  assert.equal(clientKey(headers, { COTSCOPE_TRUST_PROXY: '1' }), '203.0.113.9');
});

test('a failure limiter refuses past the limit until the oldest failure leaves the window', () => {
  const limiter = new FailureLimiter({ maxFailures: 2, windowMs: 1000 });
  limiter.fail('k', 0);
  assert.equal(limiter.retryAfterMs('k', 10), 0);
  limiter.fail('k', 100);
  assert.equal(limiter.retryAfterMs('k', 200), 800);
  assert.equal(limiter.retryAfterMs('k', 900), 100);
  assert.equal(limiter.retryAfterMs('k', 1000), 0);
});
