/**
 * The GGUF container: what the writer puts on disk parses back, both with our reader and with
 * node-llama-cpp's independent GGUF parser, and bad input is refused by name without leaving a file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import {
  readGgufInfo,
  readGgufTensorBytes,
  tensorByteLength,
  writeGguf,
  type GgufMetadata,
  type GgufTensor,
} from '../../../lib/model/gguf-format';

function tempFile(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-gguf-')), name);
}

const float32Bytes = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

const metadata: GgufMetadata = new Map([
  ['general.architecture', { type: 'string', value: 'test-arch' }],
  ['general.alignment', { type: 'uint32', value: 32 }],
  ['test-arch.block_count', { type: 'uint32', value: 3 }],
  ['test-arch.rope.freq_base', { type: 'float32', value: 150000 }],
  ['test-arch.flag', { type: 'bool', value: true }],
  ['test-arch.big', { type: 'uint64', value: 2n ** 40n }],
  ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: ['a', 'Ġb', '<|end|>'] }],
  ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', values: [1, 1, 3] }],
]);

const tensors: GgufTensor[] = [
  // 3 floats = 12 bytes, so the next tensor must be padded to offset 32.
  { name: 'odd.weight', type: 'F32', dims: [3], data: () => [float32Bytes([1, 2, 3])] },
  { name: 'matrix.weight', type: 'F32', dims: [2, 3], data: () => [float32Bytes([1, 2]), float32Bytes([3, 4, 5, 6])] },
  { name: 'experts.weight', type: 'MXFP4', dims: [32, 2], data: () => [new Uint8Array(34).fill(7)] },
];

test('a written file parses back with the same metadata and tensor bytes', () => {
  const file = tempFile('roundtrip.gguf');
  writeGguf(file, metadata, tensors);
  const info = readGgufInfo(file);
  assert.equal(info.version, 3);
  assert.deepEqual([...info.metadata.keys()], [...metadata.keys()]);
  assert.deepEqual(info.metadata.get('tokenizer.ggml.tokens'), metadata.get('tokenizer.ggml.tokens'));
  assert.deepEqual(info.metadata.get('test-arch.big'), { type: 'uint64', value: 2n ** 40n });
  assert.deepEqual(info.tensors.map((t) => [t.name, t.type, t.dims]), tensors.map((t) => [t.name, t.type, t.dims]));
  assert.deepEqual(readGgufTensorBytes(file, info, 'matrix.weight'), float32Bytes([1, 2, 3, 4, 5, 6]));
  assert.deepEqual(readGgufTensorBytes(file, info, 'experts.weight'), new Uint8Array(34).fill(7));
});

test('tensor data starts on 32-byte boundaries and the file ends on one', () => {
  const file = tempFile('aligned.gguf');
  writeGguf(file, metadata, tensors);
  const info = readGgufInfo(file);
  for (const tensor of info.tensors) assert.equal(tensor.byteOffset % 32, 0, tensor.name);
  assert.equal(info.tensors[1].byteOffset - info.tensors[0].byteOffset, 32);
  assert.equal(fs.statSync(file).size % 32, 0);
});

test('node-llama-cpp reads the metadata and tensor table we write', async () => {
  const file = tempFile('peer.gguf');
  writeGguf(file, metadata, tensors);
  const info = await readGgufFileInfo(file, { readTensorInfo: true });
  const raw = info.metadata as unknown as Record<string, Record<string, unknown>>;
  assert.equal(raw.general.architecture, 'test-arch');
  assert.equal(raw['test-arch'].block_count, 3);
  assert.equal(raw['test-arch'].flag, true);
  assert.deepEqual((raw.tokenizer as unknown as { ggml: { tokens: string[] } }).ggml.tokens, ['a', 'Ġb', '<|end|>']);
  assert.deepEqual(
    info.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType]),
    [['odd.weight', [3], 0], ['matrix.weight', [2, 3], 0], ['experts.weight', [32, 2], 39]],
  );
});

test('a tensor that yields the wrong number of bytes is refused by name and leaves no file', () => {
  const file = tempFile('short.gguf');
  const short: GgufTensor = { name: 'blk.0.short.weight', type: 'F32', dims: [4], data: () => [float32Bytes([1, 2, 3])] };
  assert.throws(() => writeGguf(file, metadata, [short]), /wrong size.*needs 16 bytes, got 12.*tensor blk\.0\.short\.weight/);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), []);
});

test('an MXFP4 row that is not a whole number of 32-element blocks is refused', () => {
  assert.throws(() => tensorByteLength({ name: 'bad', type: 'MXFP4', dims: [48, 2] }), /first dim 48 is not a multiple of its block size 32.*tensor bad/);
  assert.equal(tensorByteLength({ name: 'ok', type: 'MXFP4', dims: [64, 3] }), 2 * 3 * 17);
});

test('a file that is not GGUF is refused with the magic it found', () => {
  const file = tempFile('not.gguf');
  fs.writeFileSync(file, 'PK\u0003\u0004 definitely a zip');
  assert.throws(() => readGgufInfo(file), /not a GGUF file \(magic "PK/);
});

test('a truncated header is reported as truncated, not misread', () => {
  const file = tempFile('cut.gguf');
  writeGguf(file, metadata, tensors);
  const whole = fs.readFileSync(file);
  fs.writeFileSync(file, whole.subarray(0, 60));
  assert.throws(() => readGgufInfo(file), /GGUF header is truncated/);
});
