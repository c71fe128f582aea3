import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { roundToBf16 } from '../../../lib/model/bf16';
import { openCheckpoint } from '../../../lib/model/checkpoint';
import { parseConfig, TINY_PRESETS } from '../../../lib/model/config';
import {
  ensureGeneratedCheckpoint,
  generatedDenseValues,
  generatedExpertValues,
  shardFileName,
  writeGeneratedCheckpoint,
} from '../../../lib/model/generate';
import { decodeMxfp4, encodeMxfp4 } from '../../../lib/model/mxfp4';
import { SafetensorsFile } from '../../../lib/model/safetensors';
import { expectedTensors, tensorNames } from '../../../lib/model/weights';
import { referenceForward } from '../../reference/forward64';
import { MICRO, makeTempDir, readIndex, removeDir } from './fixtures';

const root = makeTempDir('generate');
const tinyDir = path.join(root, 'tiny');
after(() => removeDir(root));
before(async () => {
  await writeGeneratedCheckpoint(tinyDir, 'tiny', { seed: 3 });
});

test('shard names count from zero and name the index of the last shard', () => {
  assert.equal(shardFileName(0, 3), 'model-00000-of-00002.safetensors');
  assert.equal(shardFileName(2, 3), 'model-00002-of-00002.safetensors');
});

test('the tiny checkpoint has the Hugging Face file layout', () => {
  assert.deepEqual(fs.readdirSync(tinyDir).sort(), [
    'config.json',
    'cotscope.json',
    'generation_config.json',
    'model-00000-of-00001.safetensors',
    'model-00001-of-00001.safetensors',
    'model.safetensors.index.json',
  ]);
  const config = parseConfig(JSON.parse(fs.readFileSync(path.join(tinyDir, 'config.json'), 'utf8')));
  assert.deepEqual(config, TINY_PRESETS.tiny);
  const generation = JSON.parse(fs.readFileSync(path.join(tinyDir, 'generation_config.json'), 'utf8'));
  assert.equal(generation.bos_token_id, 199998);
  assert.deepEqual(generation.eos_token_id, [200002, 199999, 200012]);
  assert.equal(generation.pad_token_id, 199999);
  const marker = JSON.parse(fs.readFileSync(path.join(tinyDir, 'cotscope.json'), 'utf8'));
  assert.deepEqual({ ...marker, configHash: undefined }, { generator: 'cotscope', preset: 'tiny', seed: 3, configHash: undefined, complete: true });
});

test('the index maps all 79 tiny tensors to shards that hold them, and total_size sums their bytes', () => {
  const index = readIndex(tinyDir);
  assert.equal(Object.keys(index.weight_map).length, 19 * 4 + 3);
  const shards = new Map<string, SafetensorsFile>();
  let totalBytes = 0;
  for (const [tensor, file] of Object.entries(index.weight_map)) {
    if (!shards.has(file)) shards.set(file, SafetensorsFile.open(path.join(tinyDir, file)));
    totalBytes += shards.get(file)!.entry(tensor).byteLength;
  }
  assert.equal(index.metadata.total_size, totalBytes);
  assert.ok(shards.size >= 2);
  for (const shard of shards.values()) shard.close();
});

test('tiny tensors have the spec dtypes and shapes (H=64, 4 heads x 32, 2 KV heads, 8 experts, I=64)', () => {
  const checkpoint = openCheckpoint(tinyDir);
  const shapeAndDtype = (name: string) => {
    const entry = checkpoint.entry(name);
    return [entry.dtype, entry.shape];
  };
  const layer = tensorNames.layer(3);
  assert.deepEqual(shapeAndDtype(tensorNames.embed), ['BF16', [201088, 64]]);
  assert.deepEqual(shapeAndDtype(tensorNames.lmHead), ['BF16', [201088, 64]]);
  assert.deepEqual(shapeAndDtype(tensorNames.finalNorm), ['BF16', [64]]);
  assert.deepEqual(shapeAndDtype(layer.qWeight), ['BF16', [128, 64]]);
  assert.deepEqual(shapeAndDtype(layer.kWeight), ['BF16', [64, 64]]);
  assert.deepEqual(shapeAndDtype(layer.vBias), ['BF16', [64]]);
  assert.deepEqual(shapeAndDtype(layer.oWeight), ['BF16', [64, 128]]);
  assert.deepEqual(shapeAndDtype(layer.sinks), ['BF16', [4]]);
  assert.deepEqual(shapeAndDtype(layer.routerWeight), ['BF16', [8, 64]]);
  assert.deepEqual(shapeAndDtype(layer.gateUpBlocks), ['U8', [8, 128, 2, 16]]);
  assert.deepEqual(shapeAndDtype(layer.gateUpScales), ['U8', [8, 128, 2]]);
  assert.deepEqual(shapeAndDtype(layer.gateUpBias), ['BF16', [8, 128]]);
  assert.deepEqual(shapeAndDtype(layer.downBlocks), ['U8', [8, 64, 2, 16]]);
  assert.deepEqual(shapeAndDtype(layer.downScales), ['U8', [8, 64, 2]]);
  assert.deepEqual(shapeAndDtype(layer.downBias), ['BF16', [8, 64]]);
  assert.equal(checkpoint.name, 'tiny');
  assert.equal(checkpoint.generated?.preset, 'tiny');
  checkpoint.close();
});

test('opening reads headers only and dense() holds one tensor, never a whole 26 MB shard', () => {
  const before = process.memoryUsage().arrayBuffers;
  const checkpoint = openCheckpoint(tinyDir);
  const sinks = checkpoint.dense(tensorNames.layer(0).sinks);
  const grownBy = process.memoryUsage().arrayBuffers - before;
  checkpoint.close();
  assert.equal(sinks.length, 4);
  assert.ok(grownBy < 1_000_000, `array buffers grew by ${grownBy} bytes`);
});

test('lm_head rows of reserved token ids are zero, so sampling rarely lands on them', () => {
  const checkpoint = openCheckpoint(tinyDir);
  const rowBytes = 64 * 2;
  assert.ok(checkpoint.raw(tensorNames.lmHead, 200013 * rowBytes, rowBytes).every((b) => b === 0));
  assert.ok(checkpoint.raw(tensorNames.lmHead, 200012 * rowBytes, rowBytes).some((b) => b !== 0));
  checkpoint.close();
});

test('round trip: every dense tensor reads back as its generated values rounded to BF16', async () => {
  const dir = path.join(root, 'micro-dense');
  await writeGeneratedCheckpoint(dir, MICRO, { seed: 9, shards: 3 });
  const checkpoint = openCheckpoint(dir);
  for (const tensor of expectedTensors(MICRO).filter((t) => t.kind === 'dense')) {
    const generated = generatedDenseValues(MICRO, 9, tensor.name);
    const read = checkpoint.dense(tensor.name);
    assert.equal(read.length, generated.length, tensor.name);
    for (let i = 0; i < read.length; i++) assert.equal(read[i], roundToBf16(generated[i]), `${tensor.name}[${i}]`);
  }
  checkpoint.close();
});

test('round trip: MXFP4 experts decode to the encoded values, within one scale unit of the generated ones', async () => {
  const dir = path.join(root, 'micro-experts');
  await writeGeneratedCheckpoint(dir, MICRO, { seed: 9 });
  const checkpoint = openCheckpoint(dir);
  for (let layer = 0; layer < MICRO.numLayers; layer++) {
    for (const which of ['gate_up', 'down'] as const) {
      const whole = checkpoint.mxfp4(layer, which);
      const rows = which === 'gate_up' ? 2 * MICRO.intermediateSize : MICRO.hiddenSize;
      const cols = which === 'gate_up' ? MICRO.hiddenSize : MICRO.intermediateSize;
      assert.deepEqual(whole.shape, [MICRO.numExperts, rows, cols]);
      const decodedAll = decodeMxfp4(whole.blocks, whole.scales);
      for (let expert = 0; expert < MICRO.numExperts; expert++) {
        const generated = generatedExpertValues(MICRO, 9, layer, which, expert);
        const encoded = encodeMxfp4(generated);
        const one = checkpoint.mxfp4Expert(layer, which, expert);
        assert.deepEqual(one.blocks, encoded.blocks);
        assert.deepEqual(one.scales, encoded.scales);
        const decoded = decodedAll.subarray(expert * rows * cols, (expert + 1) * rows * cols);
        assert.deepEqual(decoded, decodeMxfp4(encoded.blocks, encoded.scales));
        for (let i = 0; i < decoded.length; i++) {
          assert.ok(Math.abs(decoded[i] - generated[i]) <= 2 ** (encoded.scales[i >> 5] - 127), `${which} L${layer} e${expert} [${i}]`);
        }
      }
    }
  }
  checkpoint.close();
});

test('generation is deterministic in the seed and independent of sharding', async () => {
  const write = async (name: string, seed: number, shards: number) => {
    const dir = path.join(root, name);
    await writeGeneratedCheckpoint(dir, MICRO, { seed, shards });
    return dir;
  };
  const [a, b, c, single] = [await write('seed5a', 5, 2), await write('seed5b', 5, 2), await write('seed6', 5 + 1, 2), await write('seed5one', 5, 1)];
  const shardBytes = (dir: string) => Buffer.concat(fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => fs.readFileSync(path.join(dir, f))));
  assert.ok(shardBytes(a).equals(shardBytes(b)));
  assert.ok(!shardBytes(a).equals(shardBytes(c)));
  assert.deepEqual(fs.readdirSync(single).filter((f) => f.endsWith('.safetensors')), ['model-00000-of-00000.safetensors']);
  const [fromTwo, fromOne] = [openCheckpoint(a), openCheckpoint(single)];
  for (const name of [tensorNames.embed, tensorNames.layer(1).sinks]) assert.deepEqual(fromTwo.dense(name), fromOne.dense(name));
  assert.deepEqual(fromTwo.mxfp4(1, 'down'), fromOne.mxfp4(1, 'down'));
  fromTwo.close();
  fromOne.close();
});

test('ensureGeneratedCheckpoint skips an identical checkpoint and regenerates for another seed or an interrupted run', async () => {
  const dir = path.join(root, 'ensure');
  assert.deepEqual(await ensureGeneratedCheckpoint(dir, MICRO, { seed: 1 }), { written: true });
  assert.deepEqual(await ensureGeneratedCheckpoint(dir, MICRO, { seed: 1 }), { written: false });
  assert.deepEqual(await ensureGeneratedCheckpoint(dir, MICRO, { seed: 2 }), { written: true });
  const markerFile = path.join(dir, 'cotscope.json');
  fs.writeFileSync(markerFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(markerFile, 'utf8')), complete: false }));
  assert.deepEqual(await ensureGeneratedCheckpoint(dir, MICRO, { seed: 2 }), { written: true });
});

test('the generator refuses to overwrite a folder it did not write, and leaves it untouched', async () => {
  const dir = path.join(root, 'foreign');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), '{"mine": true}');
  await assert.rejects(writeGeneratedCheckpoint(dir, MICRO), /refusing to write into/);
  assert.deepEqual(fs.readdirSync(dir), ['config.json']);
  assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), '{"mine": true}');
});

test('the generated tiny model behaves non-degenerately: routing varies, attention is peaked, sinks take mass, logits are not flat', () => {
  const checkpoint = openCheckpoint(tinyDir);
  const tokens = [200006, 17360, 200008, 3575, 553, 261, 10297, 2359, 13, 200007, 200006, 1428, 200008, 4827, 382, 220];
  const result = referenceForward(checkpoint, tokens, { logitsAt: 'last' });
  checkpoint.close();
  for (const [layer, trace] of result.layers.entries()) {
    const expertSets = new Set(trace.topExperts.map((experts) => [...experts].sort().join(',')));
    assert.ok(expertSets.size >= 3, `layer ${layer}: only ${expertSets.size} distinct expert sets`);
    const spreads = trace.routerLogits.map((logits) => Math.max(...logits) - Math.min(...logits));
    assert.ok(Math.min(...spreads) > 1, `layer ${layer}: router logits nearly flat`);
    const last = tokens.length - 1;
    const peak = Math.max(...trace.attentionProbs[last].map((probabilities) => Math.max(...probabilities)));
    assert.ok(peak > 3 / tokens.length, `layer ${layer}: attention close to uniform (peak ${peak})`);
  }
  const sinkMasses = result.layers.flatMap((trace) => trace.sinkMass.flatMap((perHead) => [...perHead]));
  assert.ok(Math.max(...sinkMasses) > 0.3, 'no head parks visible mass on its sink');
  assert.ok(Math.min(...sinkMasses) < 0.05, 'every head parks mass on its sink');
  const logits = result.logits.at(-1)!;
  const top = logits.reduce((max, value) => Math.max(max, value), -Infinity);
  const partition = logits.reduce((sum, value) => sum + Math.exp(value - top), 0);
  assert.ok(1 / partition > 100 / logits.length, `top token probability ${1 / partition} is near uniform`);
});
