/**
 * Issue 8, defect 8: a checkpoint whose embedding is all NaN ran silently (tokens [0,0,0,0],
 * log-probs null). Non-finite logits now stop generation with an error naming the position.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { SafetensorsFile } from '../../lib/model/safetensors';
import { NonFiniteLogitsError, Sampler, SeededRandom } from '../../lib/runtime/sampler';
import { runCli } from './processes';

let work: string;

before(() => { work = mkdtempSync(join(tmpdir(), 'cotscope-nan-')); });
after(() => rmSync(work, { recursive: true, force: true }));

/** Overwrites the checkpoint's embedding with bf16 NaN. */
function poisonEmbedding(dir: string): void {
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const name = 'model.embed_tokens.weight';
  const file = SafetensorsFile.open(join(dir, index.weight_map[name]));
  const entry = file.tensors.get(name)!;
  file.close();
  assert.equal(entry.dtype, 'BF16');
  const nan = Buffer.alloc(entry.byteLength);
  for (let offset = 0; offset < nan.length; offset += 2) nan.writeUInt16LE(0x7fc0, offset);
  const fd = openSync(entry.file, 'r+');
  try {
    writeSync(fd, nan, 0, nan.length, entry.offset);
  } finally {
    closeSync(fd);
  }
}

describe('non-finite logits stop generation', () => {
  test('the sampler refuses NaN or infinite logits, naming the position', () => {
    const sampler = new Sampler({ temperature: 1, topP: 1 }, new SeededRandom(0));
    const logits = Float32Array.from([0.5, 1, 2]);
    assert.throws(() => sampler.pick(logits, { logSumExp: Number.NaN }, 7), (error: Error) => error instanceof NonFiniteLogitsError && /at position 7/.test(error.message));
    assert.throws(() => sampler.pick(Float32Array.from([0, Number.NaN, 1])), /logit 1 is NaN/);
    assert.throws(() => sampler.pick(Float32Array.from([0, Infinity])), /logit 1 is Infinity/);
    assert.throws(() => sampler.pick(Float32Array.from([-Infinity, -Infinity])), /every logit is -Infinity/);
    assert.equal(sampler.pick(Float32Array.from([-Infinity, 3])).token, 1, 'a masked (-Infinity) logit is fine');
  });

  test('cotscope run on a checkpoint with a NaN embedding fails naming the position, printing no tokens', async () => {
    const poisoned = join(work, 'nan-model');
    await writeGeneratedCheckpoint(poisoned, 'tiny', { seed: 5 });
    poisonEmbedding(poisoned);
    const run = await runCli(['run', '--model', poisoned, '--prompt', 'hi', '--max-new-tokens', '4', '--json']);
    assert.equal(run.code, 1, run.stdout);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /logits at position \d+ are not finite \(log-sum-exp is NaN\)/);
  });
});
