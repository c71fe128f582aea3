/**
 * PostgreSQL binary COPY encoding and decoding (lib/store/binary-copy.ts), checked against the
 * format's definition; the database's own reading of it is covered by every db test on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COPY_HEADER, COPY_TRAILER, copyRow, readCopyRows } from '../../../lib/store/binary-copy';

const copyData = (rows: Parameters<typeof copyRow>[0][]) => Buffer.concat([COPY_HEADER, ...rows.flatMap(copyRow), COPY_TRAILER]);

test('the header is the 11-byte signature, zero flags and an empty extension', () => {
  assert.deepEqual([...COPY_HEADER], [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
});

test('a row is its field count, then each field as a big-endian length and its bytes', () => {
  const row = Buffer.concat(copyRow(['é', 258, Uint8Array.of(9, 8)]));
  assert.deepEqual([...row], [0, 3, 0, 0, 0, 2, 0xc3, 0xa9, 0, 0, 0, 4, 0, 0, 1, 2, 0, 0, 0, 2, 9, 8]);
});

test('bytea fields are passed through as they are, not copied', () => {
  const payload = new Uint8Array(1024);
  assert.ok(copyRow(['id', payload]).includes(payload));
});

test('rows written are read back field by field', () => {
  const rows = readCopyRows(copyData([['a', -5, Uint8Array.of(1, 2, 3)], ['', 2 ** 31 - 1, new Uint8Array(0)]]));
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((row) => row.map((field) => (field ? [...field] : null))), [
    [[0x61], [0xff, 0xff, 0xff, 0xfb], [1, 2, 3]],
    [[], [0x7f, 0xff, 0xff, 0xff], []],
  ]);
});

test('a NULL field (length -1) reads as null', () => {
  const data = Buffer.concat([COPY_HEADER, Buffer.from([0, 1, 0xff, 0xff, 0xff, 0xff]), COPY_TRAILER]);
  assert.deepEqual(readCopyRows(data), [[null]]);
});

test('an int4 field outside 32 bits is refused rather than wrapped', () => {
  assert.throws(() => copyRow([2 ** 31]), /out of range/);
  assert.throws(() => copyRow([1.5]), /out of range/);
});

test('data without the signature, cut inside a field or before the trailer, is refused', () => {
  assert.throws(() => readCopyRows(Buffer.from('not copy data at all')), /bad signature/);
  const whole = copyData([['abc', Uint8Array.of(1, 2, 3, 4)]]);
  assert.throws(() => readCopyRows(whole.subarray(0, whole.length - 4)), /ends inside a field/);
  assert.throws(() => readCopyRows(whole.subarray(0, whole.length - 2)), /ends before its trailer/);
});
