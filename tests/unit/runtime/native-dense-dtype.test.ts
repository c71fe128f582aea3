/**
 * The native path reads every dense matrix (embedding, attention q/k/v/o, router, lm_head) as the
 * checkpoint's BF16 bytes. A checkpoint that stores one of them in another float dtype still
 * loads: the runtime names the tensor and runs the int8 QMoE whole-model graph, which decodes
 * any float dtype.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CONFIG_FILE, openCheckpoint, SINGLE_FILE } from '../../../lib/model/checkpoint';
import { writeGeneratedCheckpoint } from '../../../lib/model/generate';
import { SafetensorsWriter } from '../../../lib/model/safetensors';
import { tensorNames } from '../../../lib/model/weights';
import { loadRuntime, RuntimeInputError } from '../../../lib/runtime/runtime';

const FLOAT32_TENSOR = tensorNames.layer(1).oWeight;
let root = '';
let dir = '';

/** The generated checkpoint rewritten as one file, FLOAT32_TENSOR stored as F32 (same values). */
async function rewriteWithFloat32(source: string, target: string): Promise<void> {
  fs.mkdirSync(target);
  fs.copyFileSync(path.join(source, CONFIG_FILE), path.join(target, CONFIG_FILE));
  const checkpoint = openCheckpoint(source);
  try {
    const tensors = checkpoint.listTensors().map((t) => ({ name: t.name, dtype: t.name === FLOAT32_TENSOR ? ('F32' as const) : t.dtype, shape: t.shape }));
    const writer = await SafetensorsWriter.create(path.join(target, SINGLE_FILE), tensors);
    for (const t of tensors) {
      await writer.write(t.name, t.name === FLOAT32_TENSOR ? new Uint8Array(checkpoint.dense(t.name).buffer) : checkpoint.raw(t.name));
    }
    await writer.finish();
  } finally {
    checkpoint.close();
  }
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-dense-dtype-'));
  await writeGeneratedCheckpoint(path.join(root, 'bf16'), 'tiny', { seed: 4 });
  dir = path.join(root, 'f32-o-proj');
  await rewriteWithFloat32(path.join(root, 'bf16'), dir);
});

after(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('a non-BF16 attention matrix sends the runtime to int8 QMoE, naming the tensor, and it still generates', async () => {
  const warn = console.warn;
  console.warn = () => {};
  const runtime = await loadRuntime(dir, { threads: 1, maxSequence: 64 }).finally(() => {
    console.warn = warn;
  });
  try {
    assert.equal(runtime.experts, 'int8');
    assert.match(runtime.fallbackReason ?? '', new RegExp(`${FLOAT32_TENSOR.replaceAll('.', '\\.')} is F32; the native path reads it as BF16`));
    const run = await runtime.generate({ promptIds: [200006, 1428, 200008], sampling: { temperature: 0, topP: 1, seed: 0, maxNewTokens: 3 }, capture: { routing: true, attention: false }, stopTokens: [] });
    assert.equal(run.logprobs.length, 3);
  } finally {
    await runtime.close();
  }
  await assert.rejects(loadRuntime(dir, { experts: 'mxfp4' }), (error: unknown) => error instanceof RuntimeInputError && error.message.includes(FLOAT32_TENSOR));
});
