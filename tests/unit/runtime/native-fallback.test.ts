/**
 * Without the native kernels the runtime says why and runs int8 QMoE experts; asking for mxfp4
 * explicitly is then an error naming the reason. COTSCOPE_NATIVE=0 stands in for a failed build
 * (node --test runs each file in its own process, so this does not leak into other tests).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeGeneratedCheckpoint } from '../../../lib/model/generate';
import { loadRuntime, RuntimeInputError } from '../../../lib/runtime/runtime';

let dir = '';

before(async () => {
  process.env.COTSCOPE_NATIVE = '0';
  dir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-fallback-'));
  await writeGeneratedCheckpoint(dir, 'tiny', { seed: 3 });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the default falls back to int8 QMoE, says why, and still generates with routing capture', async () => {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  const runtime = await loadRuntime(dir, { threads: 1, maxSequence: 64 }).finally(() => {
    console.warn = warn;
  });
  try {
    assert.equal(runtime.experts, 'int8');
    assert.match(runtime.fallbackReason ?? '', /native MXFP4 experts are not available \(turned off by COTSCOPE_NATIVE=0\); using int8 QMoE experts/);
    assert.deepEqual(warnings, [`cotscope: ${runtime.fallbackReason}`]);
    const run = await runtime.generate({ promptIds: [200006, 1428, 200008], sampling: { temperature: 0, topP: 1, seed: 0, maxNewTokens: 3 }, capture: { routing: true, attention: false }, stopTokens: [] });
    assert.equal(run.logprobs.length, 3);
    assert.equal(run.routing?.numTokens, run.tokens.length);
  } finally {
    await runtime.close();
  }
});

test('asking for mxfp4 when it cannot run is an error with the reason', async () => {
  await assert.rejects(loadRuntime(dir, { experts: 'mxfp4' }), (error: unknown) => error instanceof RuntimeInputError && /COTSCOPE_NATIVE=0/.test(error.message));
});
