/**
 * The app on PostgreSQL with its own worker switched off (COTSCOPE_APP_WORKER=0): a live run
 * started in Chromium is enqueued, a separate `cotscope worker` process runs it, and the browser
 * receives the streamed tokens; the jobs page then shows the worker and the finished job.
 * PostgreSQL only: with PGlite the app runs live runs in process (tests/e2e/workbench.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from './browser';
import { startApp, type RunningApp } from './server';

const databaseUrl = process.env.DATABASE_URL;

describe('live runs through the job queue', { skip: databaseUrl ? false : 'needs PostgreSQL (DATABASE_URL)' }, () => {
  const schema = `cotscope_e2e_${process.pid}`;
  const modelParent = mkdtempSync(path.join(os.tmpdir(), 'cotscope-jobs-model-'));
  const modelDir = path.join(modelParent, 'tiny');
  let appUrl = '';
  let app: RunningApp;
  let worker: ChildProcess;
  const workerLog: string[] = [];
  let browser: BrowserContext;
  let page: Page;

  before(async () => {
    const url = new URL(databaseUrl!);
    url.searchParams.set('schema', schema);
    const env = { DATABASE_URL: url.toString(), COTSCOPE_APP_WORKER: '0', COTSCOPE_MODEL_DIR: modelDir };
    app = await startApp(['--dev', '--no-demo'], env); // writes the tiny model into modelDir
    appUrl = app.url;
    worker = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'worker', '--model', modelDir, '--threads', '1'],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    worker.stderr!.on('data', (data: Buffer) => workerLog.push(data.toString()));
    for (const deadline = Date.now() + 120_000; !/serving model tiny/.test(workerLog.join('')); await new Promise((resolve) => setTimeout(resolve, 100))) {
      if (Date.now() > deadline || worker.exitCode !== null) throw new Error(`the worker did not come up:\n${workerLog.join('')}`);
    }
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(90_000);
  });

  after(async () => {
    await browser?.close();
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.once('exit', resolve));
    }
    await app?.stop();
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS "${schema}_pgboss" CASCADE`);
    await client.end();
    rmSync(modelParent, { recursive: true, force: true });
  });

  test('the app enqueues a live run, a worker process runs it, the browser receives the streamed tokens', async () => {
    await page.goto(`${appUrl}/run`);
    await page.fill('textarea[name="prompt"]', 'What colour is the sea?');
    await page.fill('input[name="maxNewTokens"]', '24');
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent === 'done', undefined, { timeout: 180_000 });
    const streamed = await page.$$eval('[data-testid="run-tokens"] .tok', (spans) => spans.length);
    assert.ok(streamed >= 20, `expected the generated tokens on the page, got ${streamed}`);
    const href = await page.getAttribute('[data-testid="run-trace-link"]', 'href');
    const traceId = href?.split('/').pop() ?? '';
    assert.ok(traceId.length > 0);
    // The browser has `done` before the worker completes the job and logs it.
    const ranByWorker = new RegExp(`complete, trace ${traceId}`);
    for (const deadline = Date.now() + 15_000; !ranByWorker.test(workerLog.join('')) && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(workerLog.join(''), ranByWorker, 'the worker process, not the app, ran the job');
  });

  test('the jobs page shows the worker with its model and device and the live collection done', async () => {
    await page.goto(`${appUrl}/jobs`);
    await page.waitForSelector('[data-testid="jobs-worker"]');
    assert.match(await page.textContent('[data-testid="jobs-worker"]') ?? '', /tiny.*cpu/);
    const live = await page.textContent('[data-testid="jobs-collection"]');
    assert.match(live ?? '', /^live1/, `live collection: one job done (${live})`);
  });

  test('a batch capture queued from the jobs page is run by the worker', async () => {
    await page.goto(`${appUrl}/jobs`);
    await page.fill('textarea[name="prompts"]', '{"id": "b1", "prompt": "Say hi."}');
    await page.fill('input[name="collection"]', 'from-the-app');
    await page.fill('input[name="samples"]', '2');
    await page.fill('input[name="maxNewTokens"]', '8');
    await page.click('form.batch button[type="submit"]');
    await page.waitForFunction(() => /queued 2 job/.test(document.querySelector('[data-testid="jobs-message"]')?.textContent ?? ''));
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="jobs-collection"]')]
      .some((row) => /^from-the-app2000/.test(row.textContent ?? '')), undefined, { timeout: 120_000 });
  });
});
