/**
 * UI benchmark (not a test): time to interactive of the trace view for an 8k-token trace and the
 * heatmap's frame time while panning, in real Chromium against the production build.
 *   npx tsx bench/ui.ts [--tokens 8192] [--layers 24] [--experts 32] [--profile]
 * Each sample also reports its phases (server, HTML transfer, heatmap fetch); --profile adds one
 * load under a Chrome performance trace and prints the main thread's self time per event.
 * The trace is synthetic (seeded random routing of a gpt-oss-20b shape) so it needs no 8k-token
 * generation; it is stored through the real store. Results: bench/results/ui.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderConversation } from '../lib/harmony/render';
import { parseTokens } from '../lib/harmony/parser';
import { encode } from '../lib/harmony/tokenizer';
import { mulberry32 } from '../lib/model/generate';
import type { RunResult } from '../lib/trace/types';
import type { BrowserContext, Page } from 'playwright-core';
import { startApp } from '../tests/e2e/server';
import { launchBrowser } from '../tests/e2e/browser';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const NUM_TOKENS = flag('tokens', 8192);
const NUM_LAYERS = flag('layers', 24);
const NUM_EXPERTS = flag('experts', 32);
const TOP_K = 4;

function syntheticTrace(): RunResult {
  const random = mulberry32(1);
  const words = Array.from({ length: NUM_TOKENS }, (_, i) => ['alpha', 'beta', 'gamma', 'delta', 'router', 'expert'][i % 6]).join(' ');
  const rendered = renderConversation(
    [
      { role: 'user', content: 'Think for a long time.' },
      { role: 'assistant', channel: 'analysis', content: words },
    ],
    { forCompletion: false, dropAnalysis: false },
  );
  const tokens = rendered.slice(0, NUM_TOKENS);
  while (tokens.length < NUM_TOKENS) tokens.push(...encode(' more', { allowSpecial: false }));
  const rows = NUM_TOKENS * NUM_LAYERS;
  const experts = new Uint8Array(rows * TOP_K);
  const weights = new Float32Array(rows * TOP_K);
  const logits = new Float32Array(rows * NUM_EXPERTS).map(() => random() * 4 - 2);
  for (let row = 0; row < rows; row++) {
    const order = Array.from({ length: NUM_EXPERTS }, (_, e) => e).sort((a, b) => logits[row * NUM_EXPERTS + b] - logits[row * NUM_EXPERTS + a]);
    const top = order.slice(0, TOP_K);
    const exps = top.map((e) => Math.exp(logits[row * NUM_EXPERTS + e]));
    const total = exps.reduce((sum, value) => sum + value, 0);
    top.forEach((expert, slot) => {
      experts[row * TOP_K + slot] = expert;
      weights[row * TOP_K + slot] = exps[slot] / total;
    });
  }
  const promptLength = 20;
  return {
    model: { name: 'bench-synthetic', configHash: 'bench' },
    tokens,
    promptLength,
    messages: parseTokens(tokens),
    logprobs: new Array(NUM_TOKENS - promptLength).fill(-1),
    routing: { numTokens: NUM_TOKENS, numLayers: NUM_LAYERS, numExperts: NUM_EXPERTS, topK: TOP_K, experts, weights, logits },
    attention: null,
    sampling: { temperature: 1, topP: 1, seed: 0, maxNewTokens: NUM_TOKENS },
    stopReason: 'max_tokens',
    timings: { prefillMs: 1, decodeMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
  };
}

async function storeTrace(dataDir: string): Promise<string> {
  process.env.COTSCOPE_DATA_DIR = dataDir;
  process.env.DATABASE_URL = '';
  const { openStore } = await import('../lib/store');
  const store = await openStore();
  try {
    const result = syntheticTrace();
    const model = { name: 'bench-synthetic', configHash: 'bench', numLayers: NUM_LAYERS, numExperts: NUM_EXPERTS, expertsPerToken: TOP_K, numHeads: 64, hiddenSize: 2880, vocabSize: 201088 };
    const id = await store.traces.create({ model, prompt: [{ role: 'user', content: 'Think for a long time.' }], effort: 'high', sampling: result.sampling });
    await store.traces.complete(id, result);
    return id;
  } finally {
    await store.close();
  }
}

const HEATMAP_READY = '[data-testid="heatmap-ready"] [data-testid="heatmap-canvas"]';

/**
 * Waits for the heatmap canvas of the loaded view, then two painted frames. The check runs on every
 * animation frame: waitForSelector backs off to 100-500 ms between polls, which would add up to
 * half a second of waiting to a sample.
 */
async function waitUntilInteractive(page: Page): Promise<void> {
  await page.waitForFunction(
    (selector) => {
      if (document.querySelector(selector) === null) return false;
      window.__cotscopeCanvasFoundAt ??= performance.now();
      return true;
    },
    HEATMAP_READY,
    { polling: 'raf' },
  );
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  await page.evaluate(() => (window.__cotscopeFramesPaintedAt ??= performance.now()));
}

declare global {
  interface Window {
    __cotscopeCanvasFoundAt?: number;
    __cotscopeFramesPaintedAt?: number;
  }
}

/** Where one load's time went, from the page's own navigation and resource timing (ms since navigation start). */
interface LoadPhases {
  /** Server: request sent until the first byte of the HTML (route, store, RSC render). */
  htmlFirstByte: number;
  /** HTML (with its inline RSC payload) fully received. */
  htmlDone: number;
  htmlKiB: number;
  domContentLoaded: number;
  heatmapRequested: number | null;
  heatmapDone: number | null;
  heatmapKiB: number | null;
  /** Marks the app sets (cotscope:*): view hydrated, heatmap bytes received, rasterised, first drawn. */
  hydrated: number | null;
  heatmapReceived: number | null;
  heatmapRasterized: number | null;
  heatmapDrawn: number | null;
  /** In-page clock: the benchmark's per-frame check saw the canvas; two frames later. */
  canvasFound: number | null;
  framesPainted: number | null;
}

async function loadPhases(page: Page): Promise<LoadPhases> {
  // No named helper inside: tsx would wrap it in a `__name` call the page does not have.
  return page.evaluate(() => {
    const { round } = Math;
    const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const heatmap = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find((entry) => entry.name.includes('/heatmap'));
    const marks = Object.fromEntries(performance.getEntriesByType('mark').map((mark) => [mark.name, round(mark.startTime)]));
    return {
      htmlFirstByte: round(navigation.responseStart),
      htmlDone: round(navigation.responseEnd),
      htmlKiB: round(navigation.decodedBodySize / 1024),
      domContentLoaded: round(navigation.domContentLoadedEventEnd),
      heatmapRequested: heatmap ? round(heatmap.startTime) : null,
      heatmapDone: heatmap ? round(heatmap.responseEnd) : null,
      heatmapKiB: heatmap ? round(heatmap.decodedBodySize / 1024) : null,
      hydrated: marks['cotscope:hydrated'] ?? null,
      heatmapReceived: marks['cotscope:heatmap-received'] ?? null,
      heatmapRasterized: marks['cotscope:heatmap-rasterized'] ?? null,
      heatmapDrawn: marks['cotscope:heatmap-drawn'] ?? null,
      canvasFound: window.__cotscopeCanvasFoundAt === undefined ? null : round(window.__cotscopeCanvasFoundAt),
      framesPainted: window.__cotscopeFramesPaintedAt === undefined ? null : round(window.__cotscopeFramesPaintedAt),
    };
  });
}

interface TraceEvent { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: { name?: string } }

/** Self time per trace event name on the page's main thread: where the renderer spent the load. */
function mainThreadSelfTimes(events: TraceEvent[]): Record<string, number> {
  const mainThread = events.find((event) => event.name === 'thread_name' && event.args?.name === 'CrRendererMain' && events.some((other) => other.pid === event.pid && other.name === 'ParseHTML'));
  if (!mainThread) return {};
  const spans = events
    .filter((event) => event.pid === mainThread.pid && event.tid === mainThread.tid && event.ph === 'X' && (event.dur ?? 0) > 0)
    .sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
  const selfTimes: Record<string, number> = {};
  const open: { end: number; name: string }[] = [];
  for (const span of spans) {
    const end = span.ts + (span.dur ?? 0);
    while (open.length > 0 && open[open.length - 1].end <= span.ts) open.pop();
    const parent = open[open.length - 1];
    if (parent) selfTimes[parent.name] -= span.dur ?? 0;
    selfTimes[span.name] = (selfTimes[span.name] ?? 0) + (span.dur ?? 0);
    open.push({ end, name: span.name });
  }
  const top = Object.entries(selfTimes).sort((a, b) => b[1] - a[1]).slice(0, 12);
  return Object.fromEntries(top.map(([name, micros]) => [name, Math.round(micros / 1000)]));
}

/** One load under a Chrome performance trace (CDP); the trace costs time, so it is not a TTI sample. */
async function profileLoad(browser: BrowserContext, page: Page, url: string): Promise<Record<string, number>> {
  const session = await browser.newCDPSession(page);
  const events: TraceEvent[] = [];
  session.on('Tracing.dataCollected', (message) => events.push(...(message.value as unknown as TraceEvent[])));
  const complete = new Promise<void>((resolve) => session.once('Tracing.tracingComplete', () => resolve()));
  await session.send('Tracing.start', { categories: 'devtools.timeline,v8.execute,blink,loading,toplevel,disabled-by-default-devtools.timeline,disabled-by-default-v8.cpu_profiler', transferMode: 'ReportEvents' });
  await page.goto(url);
  await waitUntilInteractive(page);
  await session.send('Tracing.end');
  await complete;
  await session.detach();
  // Opens in Chrome DevTools' Performance panel for the full picture.
  writeFileSync('bench/results/ui-trace.json', JSON.stringify({ traceEvents: events }));
  return mainThreadSelfTimes(events);
}

async function main(): Promise<void> {
  const { mkdtempSync } = await import('node:fs');
  const os = await import('node:os');
  mkdirSync('bench/results', { recursive: true });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-bench-'));
  const traceId = await storeTrace(dataDir);
  const app = await startApp(['--no-demo'], { COTSCOPE_DATA_DIR: dataDir }, 900_000);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const url = `${app.url}/traces/${traceId}`;
    // Warm the server cache once and let the warm-up's requests (heatmap encode, link prefetches)
    // finish: the benchmark measures the UI, not the first blob decode or leftover server work.
    await page.goto(url);
    await waitUntilInteractive(page);
    await page.waitForLoadState('networkidle');
    const samples: number[] = [];
    const phases: LoadPhases[] = [];
    for (let run = 0; run < 3; run++) {
      const started = Date.now();
      await page.goto(url);
      await waitUntilInteractive(page);
      samples.push(Date.now() - started);
      phases.push(await loadPhases(page));
    }
    const mainThreadMs = process.argv.includes('--profile') ? await profileLoad(browser, page, url) : undefined;
    await page.evaluate(() => (window.__cotscopeDrawTimes = []));
    const box = (await page.locator('[data-testid="heatmap-canvas"]').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -600); // zoom in so panning moves
    await page.mouse.down();
    for (let step = 0; step < 120; step++) await page.mouse.move(box.x + box.width / 2 - (step % 60) * 5, box.y + box.height / 2);
    await page.mouse.up();
    const draws = await page.evaluate(() => window.__cotscopeDrawTimes ?? []);
    const sorted = [...draws].sort((a, b) => a - b);
    const result = {
      tokens: NUM_TOKENS,
      layers: NUM_LAYERS,
      experts: NUM_EXPERTS,
      timeToInteractiveMs: { samples, best: Math.min(...samples), target: 1000 },
      phasesMs: phases,
      ...(mainThreadMs ? { mainThreadSelfMs: mainThreadMs } : {}),
      panFrameDrawMs: { frames: draws.length, median: sorted[Math.floor(sorted.length / 2)], p95: sorted[Math.floor(sorted.length * 0.95)], max: sorted[sorted.length - 1] },
    };
    writeFileSync('bench/results/ui.json', JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await browser.close();
    await app.stop();
  }
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
