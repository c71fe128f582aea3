/**
 * The checkpoint loader validates everything before use: each defect below is made by corrupting
 * a freshly generated checkpoint, and the error must name the file and (where there is one) the tensor.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openCheckpoint } from '../../../lib/model/checkpoint';
import { CheckpointError } from '../../../lib/model/errors';
import { writeGeneratedCheckpoint } from '../../../lib/model/generate';
import { SafetensorsFile, SafetensorsWriter } from '../../../lib/model/safetensors';
import { tensorNames } from '../../../lib/model/weights';
import { MICRO, makeTempDir, readIndex, removeDir, rewriteShard, shardHolding, writeIndex } from './fixtures';

const root = makeTempDir('checkpoint');
const pristine = path.join(root, 'pristine');
let caseCount = 0;
const sinks1 = tensorNames.layer(1).sinks;
const router0 = tensorNames.layer(0).routerWeight;

before(async () => {
  await writeGeneratedCheckpoint(pristine, MICRO, { seed: 4 });
});
after(() => removeDir(root));

/** A fresh copy of the generated checkpoint to corrupt. */
function copyOfPristine(): string {
  const dir = path.join(root, `case-${++caseCount}`);
  fs.cpSync(pristine, dir, { recursive: true });
  return dir;
}

function loadError(dir: string): CheckpointError {
  try {
    openCheckpoint(dir).close();
  } catch (error) {
    assert.ok(error instanceof CheckpointError, `not a CheckpointError: ${String(error)}`);
    return error;
  }
  assert.fail(`${dir} loaded without error`);
}

/** The error names `file` (and `tensor`, when given) in its fields and in its message. */
function assertNames(error: CheckpointError, file: string, tensor?: string): void {
  assert.equal(error.file, file);
  assert.ok(error.message.includes(path.basename(file)), error.message);
  assert.equal(error.tensor, tensor);
  if (tensor) assert.ok(error.message.includes(tensor), error.message);
}

test('an intact generated checkpoint opens and lists its 41 tensors', () => {
  const checkpoint = openCheckpoint(pristine);
  assert.equal(checkpoint.listTensors().length, 19 * 2 + 3);
  assert.deepEqual(checkpoint.config, MICRO);
  assert.equal(checkpoint.dense(sinks1).length, MICRO.numHeads);
  checkpoint.close();
});

test('a truncated shard names the shard and the tensor that runs past its end', () => {
  const dir = copyOfPristine();
  const shard = shardHolding(dir, tensorNames.lmHead);
  const opened = SafetensorsFile.open(shard);
  const lastTensor = [...opened.tensors.values()].sort((a, b) => b.offset - a.offset)[0].name;
  opened.close();
  fs.truncateSync(shard, fs.statSync(shard).size - 100);
  const error = loadError(dir);
  assert.match(error.message, /truncated safetensors file/);
  assertNames(error, shard, lastTensor);
});

test('a garbled header names the shard', () => {
  const dir = copyOfPristine();
  const shard = shardHolding(dir, tensorNames.embed);
  const fd = fs.openSync(shard, 'r+');
  fs.writeSync(fd, Buffer.from('garbage!'), 0, 8, 8);
  fs.closeSync(fd);
  const error = loadError(dir);
  assert.match(error.message, /bad safetensors header: not JSON/);
  assertNames(error, shard);
});

test('a tensor dropped from its shard names that shard and the tensor', async () => {
  const dir = copyOfPristine();
  const shard = shardHolding(dir, sinks1);
  await rewriteShard(shard, (tensors) => tensors.filter((t) => t.declaration.name !== sinks1));
  const error = loadError(dir);
  assert.match(error.message, /index maps the tensor to model-0000\d-of-0000\d\.safetensors, which does not hold it/);
  assertNames(error, shard, sinks1);
});

test('a tensor dropped from the index is missing, naming the index', () => {
  const dir = copyOfPristine();
  const index = readIndex(dir);
  delete index.weight_map[sinks1];
  writeIndex(dir, index);
  const error = loadError(dir);
  assert.match(error.message, /^missing tensor.*1 more problem\(s\), e\.g\. tensor is in a shard but not in model\.safetensors\.index\.json/);
  assertNames(error, path.join(dir, 'model.safetensors.index.json'), sinks1);
});

test('a wrong shape in a shard header is a misshapen tensor, naming shard and tensor', async () => {
  const dir = copyOfPristine();
  const shard = shardHolding(dir, sinks1);
  await rewriteShard(shard, (tensors) =>
    tensors.map((t) => (t.declaration.name === sinks1 ? { ...t, declaration: { ...t.declaration, shape: [2, 2] } } : t)),
  );
  const error = loadError(dir);
  assert.match(error.message, /misshapen tensor: shape \[2,2\] but the config needs \[4\]/);
  assertNames(error, shard, sinks1);
});

test('a wrong dtype names shard and tensor; dense tensors may be BF16, F32 or F16 but not integers', async () => {
  const dir = copyOfPristine();
  const shard = shardHolding(dir, router0);
  await rewriteShard(shard, (tensors) =>
    tensors.map((t) => (t.declaration.name === router0 ? { ...t, declaration: { ...t.declaration, dtype: 'I16' } } : t)),
  );
  const error = loadError(dir);
  assert.match(error.message, /wrong dtype I16 \(expected BF16 or F32 or F16\)/);
  assertNames(error, shard, router0);
});

test('MXFP4 blocks must be U8', async () => {
  const dir = copyOfPristine();
  const blocks = tensorNames.layer(0).downBlocks;
  const shard = shardHolding(dir, blocks);
  await rewriteShard(shard, (tensors) =>
    tensors.map((t) => (t.declaration.name === blocks ? { ...t, declaration: { ...t.declaration, dtype: 'I8' } } : t)),
  );
  const error = loadError(dir);
  assert.match(error.message, /wrong dtype I8 \(expected U8\)/);
  assertNames(error, shard, blocks);
});

test('an unknown extra tensor is an error, not silently ignored', async () => {
  const dir = copyOfPristine();
  const extra = 'model.layers.0.mlp.experts.gate_up_proj';
  const shard = shardHolding(dir, router0);
  await rewriteShard(shard, (tensors) => [...tensors, { declaration: { name: extra, dtype: 'BF16', shape: [2] }, bytes: new Uint8Array(4) }]);
  const index = readIndex(dir);
  index.weight_map[extra] = path.basename(shard);
  writeIndex(dir, index);
  const error = loadError(dir);
  assert.match(error.message, /unexpected tensor/);
  assertNames(error, shard, extra);
});

test('an index that names a missing shard names the index, the tensor and the missing file', () => {
  const dir = copyOfPristine();
  const index = readIndex(dir);
  index.weight_map[router0] = 'model-00007-of-00009.safetensors';
  writeIndex(dir, index);
  const error = loadError(dir);
  assert.match(error.message, /index names a shard that does not exist: model-00007-of-00009\.safetensors/);
  assertNames(error, path.join(dir, 'model.safetensors.index.json'), router0);
});

test('a config.json that is not JSON, or that the runtime cannot serve, names config.json', () => {
  const dir = copyOfPristine();
  const configFile = path.join(dir, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  fs.writeFileSync(configFile, '{"model_type": "gpt_oss",');
  assert.match(loadError(dir).message, /not valid JSON/);
  assertNames(loadError(dir), configFile);

  fs.writeFileSync(configFile, JSON.stringify({ ...config, hidden_size: 48 }));
  assert.match(loadError(dir).message, /hidden_size \(48\) must be a multiple of 32/);
  assertNames(loadError(dir), configFile);
});

test('a config that disagrees with the weights reports the first misshapen tensor', () => {
  const dir = copyOfPristine();
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), num_local_experts: 8 }));
  const error = loadError(dir);
  assert.match(error.message, /misshapen tensor: shape \[4,64\] but the config needs \[8,64\].*more problem/);
  assertNames(error, shardHolding(dir, router0), router0);
});

test('a folder without weights, or no folder at all, is named in the error', () => {
  const dir = copyOfPristine();
  for (const file of fs.readdirSync(dir).filter((f) => f.startsWith('model'))) fs.rmSync(path.join(dir, file));
  const error = loadError(dir);
  assert.match(error.message, /no model\.safetensors\.index\.json or model\.safetensors/);
  assertNames(error, dir);
  assertNames(loadError(path.join(root, 'nowhere')), path.join(root, 'nowhere'));
});

/** float32 -> F16 bits for normal values with at most 11 significant bits (all BF16 values near 1). */
function exactF16Bits(value: number): number {
  const bits = new Uint32Array(Float32Array.of(value).buffer)[0];
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  return ((bits >>> 16) & 0x8000) | (exponent << 10) | ((bits >>> 13) & 0x3ff);
}

test('a single model.safetensors with F32 sinks and F16 norms reads the same values as the BF16 shards', async () => {
  const dir = copyOfPristine();
  const norm = tensorNames.layer(0).inputNorm;
  const sharded = openCheckpoint(dir);
  const tensors = sharded.listTensors();
  const merged = await SafetensorsWriter.create(path.join(dir, 'model.safetensors'), tensors.map((t) => ({
    name: t.name,
    dtype: t.name === sinks1 ? 'F32' : t.name === norm ? 'F16' : t.dtype,
    shape: t.shape,
  })));
  for (const t of tensors) {
    if (t.name === sinks1) await merged.write(t.name, new Uint8Array(sharded.dense(t.name).buffer));
    else if (t.name === norm) await merged.write(t.name, new Uint8Array(Uint16Array.from(sharded.dense(t.name), exactF16Bits).buffer));
    else await merged.write(t.name, sharded.raw(t.name));
  }
  await merged.finish();
  for (const file of fs.readdirSync(dir).filter((f) => /^model-|index/.test(f))) fs.rmSync(path.join(dir, file));

  const single = openCheckpoint(dir);
  assert.equal(single.entry(sinks1).dtype, 'F32');
  assert.equal(single.entry(norm).dtype, 'F16');
  for (const name of [sinks1, norm, router0, tensorNames.embed]) assert.deepEqual(single.dense(name), sharded.dense(name), name);
  assert.deepEqual(single.mxfp4(1, 'gate_up'), sharded.mxfp4(1, 'gate_up'));
  single.close();
  sharded.close();
});

test('reading an unknown tensor, a bad layer or expert, or after close() is refused clearly', () => {
  const checkpoint = openCheckpoint(pristine);
  assert.throws(() => checkpoint.dense('model.layers.9.self_attn.sinks'), /no such tensor.*model\.layers\.9\.self_attn\.sinks/);
  assert.throws(() => checkpoint.dense(tensorNames.layer(0).gateUpBlocks), /U8, not a dense float tensor/);
  assert.throws(() => checkpoint.mxfp4(MICRO.numLayers, 'down'), /layer 2 is outside \[0, 2\)/);
  assert.throws(() => checkpoint.mxfp4Expert(0, 'down', MICRO.numExperts), /expert 4 is outside/);
  checkpoint.close();
  assert.throws(() => checkpoint.dense(sinks1), /closed/);
});
