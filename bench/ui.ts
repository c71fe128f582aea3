/**
 * UI benchmark (not a test): time to interactive of the trace view for an 8k-token trace and the
 * heatmap's frame time while panning, in real Chromium against the production build.
 *   npx tsx bench/ui.ts [--tokens 8192] [--layers 24] [--experts 32]
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

async function main(): Promise<void> {
  const { mkdtempSync } = await import('node:fs');
  const os = await import('node:os');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-bench-'));
  const traceId = await storeTrace(dataDir);
  const app = await startApp(['--no-demo'], { COTSCOPE_DATA_DIR: dataDir }, 900_000);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const url = `${app.url}/traces/${traceId}`;
    await page.goto(url); // warm the server cache once: the benchmark measures the UI, not the first blob decode
    const samples: number[] = [];
    for (let run = 0; run < 3; run++) {
      const started = Date.now();
      await page.goto(url);
      await page.waitForSelector('[data-testid="heatmap-ready"] [data-testid="heatmap-canvas"]');
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
      samples.push(Date.now() - started);
    }
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
      panFrameDrawMs: { frames: draws.length, median: sorted[Math.floor(sorted.length / 2)], p95: sorted[Math.floor(sorted.length * 0.95)], max: sorted[sorted.length - 1] },
    };
    mkdirSync('bench/results', { recursive: true });
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
