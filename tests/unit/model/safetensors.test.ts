import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError } from '../../../lib/model/errors';
import { SafetensorsFile, SafetensorsWriter } from '../../../lib/model/safetensors';
import { makeTempDir, removeDir } from './fixtures';

const dir = makeTempDir('safetensors');
after(() => removeDir(dir));

/** A file made of an 8-byte little-endian length, the given header text, and `dataBytes` zero bytes. */
function handBuilt(name: string, header: string, dataBytes: number, declaredLength = Buffer.byteLength(header)): string {
  const file = path.join(dir, name);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(declaredLength));
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header), Buffer.alloc(dataBytes)]));
  return file;
}

function openError(file: string): CheckpointError {
  try {
    SafetensorsFile.open(file).close();
  } catch (error) {
    assert.ok(error instanceof CheckpointError, String(error));
    assert.equal(error.file, file);
    return error;
  }
  assert.fail(`${file} opened without error`);
}

test('tensors are read by name from their data offsets, and slices read only their bytes', async () => {
  const file = path.join(dir, 'two.safetensors');
  const writer = await SafetensorsWriter.create(file, [
    { name: 'a', dtype: 'U8', shape: [2, 2] },
    { name: 'b', dtype: 'BF16', shape: [3] },
  ]);
  await writer.write('a', Uint8Array.of(1, 2));
  await writer.write('a', Uint8Array.of(3, 4));
  await writer.write('b', Uint8Array.of(10, 11, 12, 13, 14, 15));
  await writer.finish();
  const shard = SafetensorsFile.open(file);
  assert.deepEqual([...shard.read('a')], [1, 2, 3, 4]);
  assert.deepEqual([...shard.read('b')], [10, 11, 12, 13, 14, 15]);
  assert.deepEqual([...shard.read('b', 2, 2)], [12, 13]);
  assert.deepEqual(shard.entry('b').shape, [3]);
  assert.equal(shard.entry('a').dtype, 'U8');
  assert.throws(() => shard.read('b', 4, 4), RangeError);
  assert.throws(() => shard.read('c'), /tensor not in this file.*tensor c/);
  shard.close();
  // The header is padded to a multiple of 8 bytes, as the reference writer does.
  assert.equal(Number(fs.readFileSync(file).readBigUInt64LE(0)) % 8, 0);
});

test('a tensor larger than the write piece, written in odd-sized chunks, reads back byte for byte', async () => {
  const file = path.join(dir, 'large.safetensors');
  const byteLength = 9 * 1024 * 1024 + 7;
  const expected = Uint8Array.from({ length: byteLength }, (_, i) => (i * 31 + (i >> 13)) & 0xff);
  const writer = await SafetensorsWriter.create(file, [
    { name: 'small', dtype: 'U8', shape: [3] },
    { name: 'large', dtype: 'U8', shape: [byteLength] },
  ]);
  await writer.write('small', Uint8Array.of(7, 8, 9));
  for (let done = 0; done < byteLength; done += 1_000_003) await writer.write('large', expected.subarray(done, Math.min(byteLength, done + 1_000_003)));
  await writer.finish();
  const shard = SafetensorsFile.open(file);
  assert.deepEqual([...shard.read('small')], [7, 8, 9]);
  assert.ok(Buffer.from(shard.read('large')).equals(expected));
  assert.equal(fs.statSync(file).size, shard.entry('large').offset + byteLength);
  shard.close();
});

test('the writer refuses tensors out of declared order or left incomplete', async () => {
  const writer = await SafetensorsWriter.create(path.join(dir, 'order.safetensors'), [
    { name: 'a', dtype: 'U8', shape: [2] },
    { name: 'b', dtype: 'U8', shape: [1] },
  ]);
  await assert.rejects(writer.write('b', Uint8Array.of(1)), /wrote b but a comes next/);
  await writer.write('a', Uint8Array.of(1));
  await assert.rejects(writer.finish(), /before every declared tensor/);
});

test('a header length longer than the file means a truncated file', () => {
  const file = handBuilt('long-header.safetensors', '{}', 0, 4096);
  assert.match(openError(file).message, /truncated safetensors file: header says 4096/);
});

test('a file shorter than the 8-byte length prefix is truncated', () => {
  const file = path.join(dir, 'stub.safetensors');
  fs.writeFileSync(file, Buffer.from([1, 2, 3]));
  assert.match(openError(file).message, /truncated safetensors file/);
});

test('a zero or absurd header length is a bad header', () => {
  assert.match(openError(handBuilt('zero.safetensors', '', 16, 0)).message, /bad safetensors header length 0/);
  assert.match(openError(handBuilt('huge.safetensors', '{}', 0, 2 ** 40)).message, /bad safetensors header length/);
});

test('a header that is not JSON, or not an object, is a bad header', () => {
  assert.match(openError(handBuilt('garbled.safetensors', '{"a": {dtype', 0)).message, /bad safetensors header: not JSON/);
  assert.match(openError(handBuilt('array.safetensors', '[1, 2]', 0)).message, /not a JSON object/);
});

test('data offsets past the end of the file mean a truncated shard, naming the tensor', () => {
  const header = JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } });
  const error = openError(handBuilt('short.safetensors', header, 10));
  assert.match(error.message, /truncated safetensors file: tensor data ends at byte/);
  assert.equal(error.tensor, 'w');
});

test('overlapping tensors are a bad header', () => {
  const header = JSON.stringify({
    a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] },
    b: { dtype: 'U8', shape: [8], data_offsets: [4, 12] },
  });
  const error = openError(handBuilt('overlap.safetensors', header, 12));
  assert.match(error.message, /overlaps a/);
  assert.equal(error.tensor, 'b');
});

test('offsets that disagree with dtype and shape, unknown dtypes and bad shapes are bad headers', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['span.safetensors', { w: { dtype: 'BF16', shape: [4], data_offsets: [0, 4] } }, /span 4 bytes but BF16 \[4\] needs 8/],
    ['dtype.safetensors', { w: { dtype: 'Q4', shape: [4], data_offsets: [0, 4] } }, /unknown dtype "Q4"/],
    ['shape.safetensors', { w: { dtype: 'U8', shape: [-4], data_offsets: [0, 4] } }, /shape \[-4\]/],
    ['offsets.safetensors', { w: { dtype: 'U8', shape: [4], data_offsets: [4, 0] } }, /not a \[begin, end\] pair/],
  ];
  for (const [name, header, pattern] of cases) {
    const error = openError(handBuilt(name, JSON.stringify(header), 8));
    assert.match(error.message, pattern);
    assert.equal(error.tensor, 'w');
  }
});
