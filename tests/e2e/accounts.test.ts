/**
 * Accounts in real Chromium: a viewer signs in and sees filtered reasoning with a redaction marker
 * and no raw text; a researcher sees raw, filtered and the diff (redaction category and rule on
 * hover); an admin sees the audit log; logout ends the session.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startApp, type RunningApp } from './server';
import { launchBrowser } from './browser';
import { ALL_MARKERS, MARKER, PASSWORDS, plantData, type PlantedData } from './planted';

const RESULTS = path.resolve(import.meta.dirname, '../../test-results');
mkdirSync(RESULTS, { recursive: true });

let app: RunningApp;
let planted: PlantedData;
let browser: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];

before(async () => {
  planted = await plantData();
  app = await startApp(['--dev', '--no-demo'], planted.env);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.setDefaultTimeout(90_000);
  page.on('pageerror', (error) => consoleErrors.push(error.message));
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

async function signIn(name: string, password: string): Promise<void> {
  await page.goto(`${app.url}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', password);
  await page.click('[data-testid="login-form"] button[type="submit"]');
  await page.waitForSelector('[data-testid="identity-role"]');
}

async function signOut(): Promise<void> {
  await page.click('[data-testid="sign-out"]');
  await page.waitForURL('**/login');
}

test('a signed-out visitor is sent to the sign-in page', async () => {
  await page.goto(`${app.url}/traces/${planted.traceId}`);
  await page.waitForURL('**/login');
  assert.ok(await page.$('[data-testid="login-form"]'));
});

test('a viewer signs in and sees filtered reasoning with a redaction marker and no raw text', async () => {
  await signIn('vera', PASSWORDS.viewer);
  assert.equal(await page.textContent('[data-testid="identity-role"]'), 'viewer');
  const cookies = await browser.cookies(app.url);
  const session = cookies.find((cookie) => cookie.name === 'cotscope_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict' && session.expires > Date.now() / 1000, 'an httpOnly, SameSite=Strict, expiring session cookie');
  assert.ok(!session.value.includes('vera'), 'the cookie is opaque');
  await page.goto(`${app.url}/traces/${planted.traceId}`);
  await page.waitForSelector('[data-testid="filtered-text"]');
  const marks = await page.$$eval('[data-testid="filtered-text"] mark.redaction', (elements) => elements.map((element) => element.textContent));
  assert.deepEqual(marks, ['[redacted: test marker]', '[private data: e-mail]']);
  assert.equal(await page.$('[data-testid="raw-reasoning"]'), null, 'no raw column for a viewer');
  const html = await page.content();
  for (const marker of ALL_MARKERS) assert.ok(!html.toLowerCase().includes(marker.toLowerCase()), `${marker} on the viewer's page`);
  assert.match(await page.textContent('[data-testid="final-answer"]') ?? '', /The quetzal, a bird\./);
  await page.screenshot({ path: path.join(RESULTS, 'viewer-filtered.png'), fullPage: true });
});

test('logout ends the session: the old cookie no longer reads anything', async () => {
  const cookie = (await browser.cookies(app.url)).find((entry) => entry.name === 'cotscope_session')!;
  await signOut();
  const response = await fetch(`${app.url}/api/traces/${planted.traceId}`, { headers: { cookie: `cotscope_session=${cookie.value}` } });
  assert.equal(response.status, 401);
});

test('a researcher sees raw, filtered and the diff with category and rule on hover', async () => {
  await signIn('rhea', PASSWORDS.researcher);
  await page.goto(`${app.url}/traces/${planted.traceId}`);
  await page.waitForSelector('[data-testid="raw-reasoning"]');
  assert.ok((await page.textContent('[data-testid="raw-reasoning"]'))!.includes(MARKER), 'raw reasoning shows the planted text');
  assert.ok(await page.$('[data-testid="filtered-text"] mark.redaction'));
  await page.check('[data-testid="diff-toggle"]');
  const diff = page.locator('[data-testid="reasoning-diff"] mark.redaction').first();
  assert.equal(await diff.textContent(), MARKER);
  assert.match((await diff.getAttribute('title')) ?? '', /test marker · rule lexicon\.marker · tokens \d+-\d+/);
  await diff.hover();
  await page.screenshot({ path: path.join(RESULTS, 'researcher-diff.png'), fullPage: true });
  await signOut();
});

test('an admin sees users, tokens and the audit log of sign-ins', async () => {
  await signIn('adam', PASSWORDS.admin);
  await page.goto(`${app.url}/admin`);
  await page.waitForSelector('[data-testid="admin-audit"]');
  const audit = (await page.textContent('[data-testid="admin-audit"]')) ?? '';
  assert.match(audit, /session\.signin\s*vera/);
  assert.match(audit, /session\.signout\s*vera/);
  assert.ok(await page.$('[data-testid="admin-users"] tr[data-user="vera"]'));
  await page.screenshot({ path: path.join(RESULTS, 'admin.png'), fullPage: true });
  await signOut();
});

test('no page threw in the browser', () => {
  assert.deepEqual(consoleErrors, []);
});
