/**
 * The workbench in real Chromium against `npm start`'s embedded defaults (tiny generated model,
 * PGlite): live run -> table -> trace view -> heatmap pixels -> token routing -> search.
 * Screenshots of each page go to test-results/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startApp } from './server';
import { DEMO_TRACE_COUNT } from '../../lib/review/demo';
import type { RunningApp } from './server';
import { launchBrowser } from './browser';

const RESULTS = path.resolve(import.meta.dirname, '../../test-results');
mkdirSync(RESULTS, { recursive: true });

let app: RunningApp;
let browser: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];
let liveTraceId = '';

before(async () => {
  app = await startApp(['--dev']);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('console', (message) => message.type() === 'error' && consoleErrors.push(`${message.text()} (${message.location().url})`));
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  page.setDefaultTimeout(90_000);
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

const shot = (name: string) => page.screenshot({ path: path.join(RESULTS, `${name}.png`), fullPage: true });

test('the workbench opens populated with a demo trace and says the model is a tiny generated one', async () => {
  await page.goto(app.url);
  await page.waitForSelector('tr[data-trace-id]');
  assert.match(await page.textContent('[data-testid="model-badge"]') ?? '', /tiny generated model/);
  assert.match(await page.textContent('[data-testid="identity"]') ?? '', /local mode: you are a researcher/);
  assert.match(await page.textContent('[data-testid="trace-count"]') ?? '', new RegExp(`\\b${DEMO_TRACE_COUNT} traces`));
  await shot('traces');
});

test('a live run streams tokens, grows the heatmap and saves the trace', async () => {
  await page.goto(`${app.url}/run`);
  await page.fill('textarea[name="prompt"]', 'What colour is the ocean?');
  await page.fill('input[name="maxNewTokens"]', '24');
  await page.click('button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent === 'done', undefined, { timeout: 120_000 });
  const streamed = await page.$$eval('[data-testid="run-tokens"] .tok', (spans) => spans.length);
  assert.ok(streamed >= 20, `expected the generated tokens on the page, got ${streamed}`);
  assert.ok(await page.$('[data-testid="heatmap-canvas"]'), 'the live heatmap is drawn');
  await shot('run');
  const href = await page.getAttribute('[data-testid="run-trace-link"]', 'href');
  liveTraceId = href?.split('/').pop() ?? '';
  assert.ok(liveTraceId.length > 0);
});

test('the saved run appears in the table and opens with a non-blank heatmap', async () => {
  await page.goto(app.url);
  await page.click(`tr[data-trace-id="${liveTraceId}"]`);
  await page.waitForURL(`**/traces/${liveTraceId}`);
  await page.waitForSelector('[data-testid="heatmap-ready"] [data-testid="heatmap-canvas"]');
  await page.waitForTimeout(300); // one animation frame draws it
  const coloured = await page.$eval('[data-testid="heatmap-canvas"]', (canvas) => {
    const element = canvas as HTMLCanvasElement;
    const pixels = element.getContext('2d')!.getImageData(0, 0, element.width, element.height).data;
    const colours = new Set<number>();
    let opaque = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i + 3] === 0) continue;
      opaque += 1;
      colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    }
    return { opaque, total: pixels.length / 4, colours: colours.size };
  });
  assert.ok(coloured.opaque > coloured.total / 2, `heatmap mostly blank: ${coloured.opaque}/${coloured.total} pixels drawn`);
  assert.ok(coloured.colours >= 4, `expected several expert colours, got ${coloured.colours}`);
  assert.ok((await page.$$('[data-testid="legend"]')).length >= 1, 'the colour scale has a legend');
  await shot('trace');
});

test('clicking a token shows its routing per layer, and arrow keys move through tokens', async () => {
  const token = page.locator('[data-testid="raw-reasoning"] .tok').nth(3);
  const index = Number(await token.getAttribute('data-t'));
  await token.click();
  await page.waitForSelector('[data-testid="token-routing"] tbody tr');
  const header = await page.textContent('[data-testid="token-inspector"] h3');
  assert.match(header ?? '', new RegExp(`Token ${index}\\b`));
  const rows = await page.$$eval('[data-testid="token-routing"] tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
  assert.equal(rows.length, 4, 'one row per layer of the tiny model');
  for (const row of rows) assert.match(row, /e\d+ 0\.\d{3}/, 'each layer lists experts with weights');
  await page.focus('[data-testid="heatmap-canvas"]');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((next) => document.querySelector('[data-testid="token-inspector"] h3')?.textContent?.startsWith(`Token ${next}`), index + 1);
  await shot('token-inspector');
});

test('search finds the trace by a word of its reasoning', async () => {
  const reasoning = (await page.textContent('[data-testid="raw-reasoning"] .token-text')) ?? '';
  // Whole whitespace-delimited words only: a Latin run glued to other letters (random-model text
  // is full of them) is one word to PostgreSQL's parser but would be cut out by a regex \b.
  const words = reasoning.split(/\s+/).filter((w) => /^[A-Za-z]{5,}$/.test(w)).sort((a, b) => b.length - a.length);
  assert.ok(words.length > 0, `no searchable word in the reasoning: ${reasoning.slice(0, 200)}`);
  await page.goto(app.url);
  await page.fill('input[name="search"]', words[0]);
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector(`tr[data-trace-id="${liveTraceId}"]`);
  await shot('search');
});

test('the table downloads the traces its filters show as a zipped dataset', async () => {
  await page.goto(app.url);
  await page.fill('input[name="collection"]', 'demo');
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector('tr[data-trace-id]');
  const link = page.locator('[data-testid="export-dataset"]');
  const href = new URL((await link.getAttribute('href')) ?? '', app.url);
  assert.deepEqual([href.pathname, href.searchParams.get('collection'), href.searchParams.get('archive')], ['/api/export', 'demo', 'zip']);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const zip = readFileSync(await download.path());
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  assert.ok(zip.includes('data/train-00000-of-00001.parquet') && zip.includes('README.md'), 'the data file and the dataset card');
});

test('a collection page downloads that collection as a zipped dataset', async () => {
  await page.goto(`${app.url}/collections/demo`);
  const href = new URL((await page.locator('[data-testid="export-dataset"]').getAttribute('href')) ?? '', app.url);
  assert.deepEqual([href.pathname, href.searchParams.get('collection'), href.searchParams.get('archive')], ['/api/export', 'demo', 'zip']);
});

test('compare shows the usage difference of two traces', async () => {
  const ids = await page.goto(app.url).then(() => page.waitForSelector('tr[data-trace-id]')).then(() => page.$$eval('tr[data-trace-id]', (rows) => rows.map((row) => row.getAttribute('data-trace-id'))));
  const other = ids.find((id) => id !== liveTraceId);
  await page.goto(`${app.url}/compare?a=${liveTraceId}&b=${other ?? liveTraceId}`);
  await page.waitForSelector('canvas[aria-label="usage difference matrix"]');
  await shot('compare');
});

test('no page logged a console error', () => {
  assert.deepEqual(consoleErrors, []);
});
