/**
 * Span annotation in real Chromium on `npm start`'s demo collection (tiny generated model, PGlite,
 * traces with routing, so the heatmap is drawn; two demo annotators have reviewed every trace
 * already): a researcher raises the overlap to 4 and turns on blind review; annotator A takes the trace from the queue and labels a span with the keyboard only,
 * sees it listed and drawn on the heatmap, and a click on its band scopes the usage matrix and the
 * inspector to it; annotator B, blind to A's span until submitting, labels the same trace; both set
 * verdicts; the collection's agreement view gains the pair and its numbers. A viewer sees the bands
 * without the text.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { openStore } from '../../lib/store/index';
import { addUser } from '../../lib/auth/accounts';
import { startApp, type RunningApp } from './server';
import { launchBrowser } from './browser';

const RESULTS = path.resolve(import.meta.dirname, '../../test-results');
mkdirSync(RESULTS, { recursive: true });

const PASSWORD = 'annotation password 123';
const USERS = { anna: 'annotator', ben: 'annotator', rhea: 'researcher', vera: 'viewer' } as const;

let app: RunningApp;
let browser: BrowserContext;
let page: Page;
let traceId = '';
/** The first token of annotator A's span. */
let annaFirst = 0;
const pageErrors: string[] = [];

before(async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-annotate-'));
  const store = await openStore({ dataDir, databaseUrl: '' });
  try {
    for (const [name, role] of Object.entries(USERS)) await addUser(store.backend, { name, role, password: PASSWORD });
  } finally {
    await store.close();
  }
  // With the demo on, the app seeds the `demo` collection (lib/review/demo.ts).
  app = await startApp(['--dev'], { COTSCOPE_DATA_DIR: dataDir, COTSCOPE_USERS: '', COTSCOPE_BCRYPT_ROUNDS: '4' });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.setDefaultTimeout(90_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
});

after(async () => {
  await page?.screenshot({ path: path.join(RESULTS, 'annotate-last.png'), fullPage: true }).catch(() => {});
  await browser?.close();
  await app?.stop();
});

const shot = (name: string) => page.screenshot({ path: path.join(RESULTS, `${name}.png`), fullPage: true });

async function signIn(name: keyof typeof USERS): Promise<void> {
  await page.goto(`${app.url}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('[data-testid="login-form"] button[type="submit"]');
  await page.waitForSelector('[data-testid="identity-role"]');
}

async function signOut(): Promise<void> {
  await page.click('[data-testid="sign-out"]');
  await page.waitForURL('**/login');
}

interface AgreementFigures { pairs: string[]; alphaUnits: number; alpha: string }

async function agreementFigures(): Promise<AgreementFigures> {
  await page.goto(`${app.url}/collections/demo`);
  await page.waitForSelector('[data-testid="alpha-units"]');
  return {
    pairs: await page.$$eval('[data-testid="kappa-table"] tr[data-pair]', (rows) => rows.map((row) => `${row.getAttribute('data-pair')}:${row.querySelector('[data-testid="kappa"]')?.textContent}:${row.querySelector('[data-testid="kappa-items"]')?.textContent}`)),
    alphaUnits: Number(await page.textContent('[data-testid="alpha-units"]')),
    alpha: (await page.textContent('[data-testid="alpha"]')) ?? '',
  };
}

/**
 * From the collection page, "next trace for me" opens a trace in queue mode; traces without raw
 * reasoning to label (the tiny model's own gibberish may have no analysis message) are skipped
 * from the queue bar, as an annotator would, until one with planted reasoning comes up.
 */
async function takeNextFromQueue(): Promise<string> {
  await page.goto(`${app.url}/collections/demo`);
  await page.waitForSelector('[data-testid="queue-progress-table"]'); // fetched by the client: the page is hydrated
  await page.click('[data-testid="queue-next"]');
  await page.waitForURL(/\/traces\/[^/?]+\?queue=demo/);
  for (let skips = 0; ; skips++) {
    await page.waitForSelector('[data-testid="heatmap-ready"]');
    await page.waitForFunction(() => !document.querySelector('[data-testid="span-list"]')?.textContent?.includes('loading annotations'));
    const id = new URL(page.url()).pathname.split('/').pop()!;
    if (await page.$('[data-testid="annotatable"]')) return id;
    assert.ok(skips < 5, 'no trace with raw reasoning in the demo queue');
    await openNextFromQueueBar('[data-testid="queue-bar"] button:text("skip")', id);
  }
}

/**
 * Clicks a queue-bar button and waits until the next trace of the queue is open. A message in the
 * bar instead (an API error, "queue finished") fails at once with its text rather than after the
 * page timeout.
 */
async function openNextFromQueueBar(button: string, leaving: string): Promise<void> {
  const notice = '[data-testid="queue-bar"] [role="status"]';
  await page.click(button);
  await page.waitForFunction(
    ([id, selector]) => !location.pathname.endsWith(id) || document.querySelector(selector) !== null,
    [leaving, notice] as const,
  );
  const message = await page.$(notice);
  assert.equal(message ? await message.textContent() : null, null, 'the queue bar shows a message instead of opening the next trace');
  await page.waitForURL((url) => url.searchParams.get('queue') === 'demo' && !url.pathname.endsWith(leaving));
}

/** Tab (as a keyboard user does) until the raw reasoning has the focus. */
async function tabToReasoning(): Promise<void> {
  for (let presses = 0; presses < 80; presses++) {
    if (await page.evaluate(() => document.activeElement?.hasAttribute('data-annotatable') ?? false)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail('Tab never reached the raw reasoning');
}

interface SpanItem { annotator: string; label: string; text: string; selected: boolean }

async function spanItems(): Promise<SpanItem[]> {
  return page.$$eval('[data-testid="span-item"]', (items) => items.map((item) => ({
    annotator: item.getAttribute('data-annotator') ?? '', label: item.getAttribute('data-label') ?? '', text: item.textContent ?? '', selected: item.classList.contains('selected'),
  })));
}

async function spanOf(annotator: string): Promise<SpanItem> {
  const item = (await spanItems()).find((candidate) => candidate.annotator === annotator);
  assert.ok(item, `a span by ${annotator} is listed`);
  return item;
}

const tokensOf = (item: SpanItem) => /tokens (\d+)-(\d+)/.exec(item.text)!.slice(1).map(Number);
const humanSpansOfOthers = (items: SpanItem[], me: string) => items.filter((item) => item.annotator !== me && / · human · /.test(item.text));

let before_: AgreementFigures;

test('a researcher asks for two more annotators per demo trace, blind', async () => {
  await signIn('rhea');
  before_ = await agreementFigures();
  assert.ok(!before_.pairs.some((pair) => pair.startsWith('anna|ben')), 'no anna/ben pair before they annotate');
  await page.fill('[data-testid="collection-settings"] input[name="overlap"]', '4');
  await page.check('[data-testid="collection-settings"] input[name="blind"]');
  await page.click('[data-testid="collection-settings"] button[type="submit"]');
  await page.waitForSelector('[data-testid="collection-settings"] [role="status"]:text("saved")');
  assert.ok((await page.textContent('[data-testid="collection-taxonomy"]'))?.includes('Deception'), 'the default taxonomy is listed');
  await signOut();
});

test('annotator A labels a span with the keyboard only and sees it listed and drawn on the heatmap', async () => {
  await signIn('anna');
  traceId = await takeNextFromQueue();
  assert.deepEqual(humanSpansOfOthers(await spanItems(), 'anna'), [], "blind review hides the demo annotators' spans");
  await tabToReasoning();
  await page.keyboard.press('ArrowRight'); // the cursor lands on the first reasoning token
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.press('Alt+Digit3'); // severity of the next span
  await page.keyboard.press('?');
  await page.waitForSelector('[data-testid="shortcut-overlay"]');
  await shot('annotate-shortcuts');
  await page.keyboard.press('Escape');
  assert.equal(await page.$('[data-testid="shortcut-overlay"]'), null, 'esc closes the overlay');
  await page.keyboard.press('2'); // the second label of the taxonomy
  await page.waitForSelector('[data-testid="span-item"][data-annotator="anna"]');
  await page.keyboard.press('e');
  await page.waitForSelector('[data-testid="note-editor"]');
  await page.keyboard.type('plans to mislead the user');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid="span-note"]:text("plans to mislead the user")');
  const item = await spanOf('anna');
  assert.equal(item.label, 'deception');
  assert.match(item.text, /Deception\s*S3\s*anna · human · tokens \d+-\d+/);
  const [first, last] = tokensOf(item);
  assert.equal(last - first, 3, 'four tokens selected with shift + arrows');
  annaFirst = first;
  const band = await page.$eval('[data-testid="span-band"][aria-label*="by anna"]', (rect) => ({ width: Number(rect.getAttribute('width')), label: rect.getAttribute('aria-label') }));
  assert.ok(band.width >= 2 && /Deception \(severity 3\) by anna/.test(band.label ?? ''), JSON.stringify(band));

  // A second span, then the keyboard's span navigation and deletion.
  for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.press('8');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="span-item"][data-annotator="anna"]').length === 2);
  await page.keyboard.press('Escape');
  await page.keyboard.press('p'); // the last span starting before the cursor
  await page.waitForSelector('[data-testid="span-item"][data-annotator="anna"][data-label="deception"].selected');
  await page.keyboard.press('n');
  await page.waitForSelector('[data-testid="span-item"][data-annotator="anna"][data-label="other"].selected');
  await page.keyboard.press('Delete');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="span-item"][data-annotator="anna"]').length === 1);

  await page.keyboard.press('Shift+U');
  await page.waitForSelector('[data-testid="my-verdict"]:text("saved: unsafe")');
  await shot('annotate-span');
});

test('clicking the span band selects its tokens in the usage matrix and the inspector', async () => {
  await page.keyboard.press('Escape');
  await page.click('[data-testid="span-band"][aria-label*="by anna"]');
  await page.waitForFunction(() => (document.querySelector('[data-testid="usage-scope"]') as HTMLSelectElement | null)?.value === 'selection');
  const scope = await page.$eval('[data-testid="usage-scope"]', (select) => (select as HTMLSelectElement).selectedOptions[0].textContent);
  const item = await spanOf('anna');
  const [first, last] = tokensOf(item);
  assert.equal(scope, `selected span ${first}-${last}`);
  await page.waitForSelector(`[data-testid="token-inspector"] h3:text("Token ${first}")`);
  assert.ok(item.selected, 'the span is selected in the list too');
  await openNextFromQueueBar('[data-testid="submit-next"]', traceId);
  await page.waitForFunction(() => !document.querySelector('[data-testid="span-list"]')?.textContent?.includes('loading annotations'));
  assert.equal((await spanItems()).filter((entry) => entry.annotator === 'anna').length, 0, 'the next trace starts clean');
  await signOut();
});

test("annotator B does not see A's span before submitting, labels the same trace with the mouse, then sees both", async () => {
  await signIn('ben');
  assert.equal(await takeNextFromQueue(), traceId, 'a further annotator gets the same trace');
  assert.ok(await page.$('[data-testid="blind-notice"]'), 'blind review is announced');
  assert.deepEqual(humanSpansOfOthers(await spanItems(), 'ben'), [], "A's span is hidden from B");
  await page.click(`[data-annotatable] .tok[data-t="${annaFirst + 2}"]`);
  await page.click(`[data-annotatable] .tok[data-t="${annaFirst + 5}"]`, { modifiers: ['Shift'] });
  await page.keyboard.press('2');
  await page.waitForSelector('[data-testid="span-item"][data-annotator="ben"]');
  assert.deepEqual(tokensOf(await spanOf('ben')), [annaFirst + 2, annaFirst + 5], 'click, then shift + click, selects the tokens between');
  await page.keyboard.press('Shift+S');
  await page.waitForSelector('[data-testid="my-verdict"]:text("saved: safe")');
  await page.reload();
  await page.waitForSelector('[data-testid="span-item"][data-annotator="anna"]');
  assert.ok(await page.$('[data-testid="span-band"][aria-label*="by anna"]') && await page.$('[data-testid="span-band"][aria-label*="by ben"]'), 'both bands are drawn');
  assert.match(await page.textContent('[data-testid="verdict-list"]') ?? '', /unsafe\s*anna/);
  await shot('annotate-two');
  await signOut();
});

test("the collection's agreement view shows the new pair and its numbers", async () => {
  await signIn('rhea');
  const after_ = await agreementFigures();
  // One trace, verdicts unsafe vs safe: observed 0, expected 0, so kappa 0 over 1 trace.
  assert.ok(after_.pairs.includes('anna|ben:0.000:1'), JSON.stringify(after_.pairs));
  assert.match(after_.alpha, /^-?\d\.\d{3}$/);
  assert.ok(after_.alpha !== before_.alpha || after_.alphaUnits !== before_.alphaUnits, `span alpha ${before_.alpha} over ${before_.alphaUnits} tokens did not change`);
  await shot('annotate-agreement');
  await signOut();
});

test('a viewer sees the spans as bands and labels, without the raw text', async () => {
  await signIn('vera');
  await page.goto(`${app.url}/traces/${traceId}`);
  await page.waitForSelector('[data-testid="heatmap-ready"]');
  await page.waitForSelector('[data-testid="span-item"][data-annotator="anna"]');
  assert.ok(await page.$('[data-testid="span-band"][aria-label*="by anna"]') && await page.$('[data-testid="span-band"][aria-label*="by ben"]'));
  assert.equal(await page.$('.span-text'), null, 'no span text for a viewer');
  assert.equal(await page.$('[data-testid="annotatable"]'), null);
  await signOut();
});

/** The row's cells by column header. */
async function rowCells(row: string): Promise<Record<string, string>> {
  const headers = await page.$$eval('[data-testid="trace-table"] thead th', (cells) => cells.map((cell) => cell.textContent?.replace(/[▲▼]/g, '').trim() ?? ''));
  const values = await page.$$eval(`${row} td`, (cells) => cells.map((cell) => cell.textContent ?? ''));
  return Object.fromEntries(headers.map((header, index) => [header, values[index]]));
}

test('the trace table filters by review and shows spans, labels and verdicts; a researcher curates', async () => {
  await signIn('rhea');
  await page.goto(app.url);
  await page.waitForSelector('tr[data-trace-id]'); // fetched by the client: the table is hydrated
  await page.fill('input[name="label"]', 'deception');
  await page.selectOption('select[name="verdict"]', 'unsafe');
  await page.click('form.filters button[type="submit"]');
  const row = `tr[data-trace-id="${traceId}"]`;
  await page.waitForSelector(row);
  const cells = await rowCells(row);
  assert.ok(cells.labels.split(', ').includes('deception'), JSON.stringify(cells));
  assert.match(cells.verdicts, /^1 safe · 3 unsafe$/, 'two demo annotators and A said unsafe, B safe');
  assert.ok(Number(cells.spans) >= 2, JSON.stringify(cells));
  await page.selectOption('select[name="verdict"]', 'unsure');
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector(row, { state: 'detached' });

  await page.selectOption('select[name="verdict"]', '');
  await page.click('form.filters button[type="submit"]');
  await page.click(`${row} button:text("edit")`);
  await page.fill('[data-testid="curation-editor"] input[name="tags"]', 'demo, reviewed');
  await page.fill('[data-testid="curation-editor"] input[name="collections"]', 'demo, triage');
  await page.click('[data-testid="curation-editor"] button[type="submit"]');
  await page.waitForSelector(`${row}:has-text("demo, reviewed")`);
  assert.equal(new URL(page.url()).pathname, '/', 'the row buttons do not open the trace');

  await page.click(`${row} button:text("delete")`);
  await page.waitForSelector('[data-testid="deleted-notice"]');
  await page.waitForSelector(row, { state: 'detached' });
  await page.goto(`${app.url}/traces/deleted`);
  await page.click(`[data-testid="deleted-traces"] ${row} button:text("restore")`);
  await page.waitForSelector(`[data-testid="deleted-traces"] ${row}`, { state: 'detached' });
  await page.goto(app.url);
  await page.waitForSelector('tr[data-trace-id]');
  await page.fill('input[name="collection"]', 'triage');
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector(row);
  await shot('annotate-table');
  await signOut();
});

test('no page threw in the browser', () => {
  assert.deepEqual(pageErrors, []);
});
