import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bf16ToFloat32, decodeBf16, decodeF16, decodeF32, encodeBf16, f16ToFloat32, float32ToBf16, roundToBf16 } from '../../../lib/model/bf16';

test('a BF16 pattern is the top half of a float32', () => {
  assert.equal(bf16ToFloat32(0x3f80), 1);
  assert.equal(bf16ToFloat32(0xc000), -2);
  assert.equal(bf16ToFloat32(0x3fc0), 1.5);
  assert.equal(bf16ToFloat32(0x7f80), Infinity);
  assert.equal(bf16ToFloat32(0x0001), 2 ** -133); // smallest subnormal
  assert.ok(Object.is(bf16ToFloat32(0x8000), -0));
});

test('encoding rounds to the nearest BF16, ties to even', () => {
  // Between 1 (0x3f80) and 1 + 2^-7 (0x3f81) the midpoint is 1 + 2^-8.
  assert.equal(float32ToBf16(1 + 2 ** -8), 0x3f80); // tie -> even 0x3f80
  assert.equal(float32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie between 0x3f81 and 0x3f82 -> even
  assert.equal(float32ToBf16(1 + 2 ** -8 + 2 ** -16), 0x3f81); // just above the midpoint
  assert.equal(float32ToBf16(1 + 2 ** -9), 0x3f80); // below the midpoint
  assert.equal(float32ToBf16(-(1 + 2 ** -8 + 2 ** -16)), 0xbf81);
});

test('values past the largest finite BF16 round to infinity', () => {
  assert.equal(float32ToBf16(3.4e38), 0x7f80);
  assert.equal(float32ToBf16(-Infinity), 0xff80);
});

test('NaN stays NaN and keeps its sign', () => {
  const positive = float32ToBf16(NaN);
  assert.ok(Number.isNaN(bf16ToFloat32(positive)));
  const negativeNaN = new Float32Array(new Uint32Array([0xffc00001]).buffer)[0];
  const negative = float32ToBf16(negativeNaN);
  assert.ok(Number.isNaN(bf16ToFloat32(negative)));
  assert.equal(negative & 0x8000, 0x8000);
  // A NaN whose payload lives only in the low half must not round into infinity.
  const lowPayloadNaN = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0];
  assert.ok(Number.isNaN(bf16ToFloat32(float32ToBf16(lowPayloadNaN))));
});

test('every BF16 pattern survives decode then encode', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = bf16ToFloat32(bits);
    if (Number.isNaN(value)) continue;
    assert.equal(float32ToBf16(value), bits);
  }
});

test('byte buffers are little-endian', () => {
  const bytes = encodeBf16([1, -2]);
  assert.deepEqual([...bytes], [0x80, 0x3f, 0x00, 0xc0]);
  assert.deepEqual([...decodeBf16(bytes)], [1, -2]);
  assert.equal(roundToBf16(1 + 2 ** -10), 1);
});

test('F16 and F32 buffers decode to float32', () => {
  assert.equal(f16ToFloat32(0x3c00), 1);
  assert.equal(f16ToFloat32(0xc000), -2);
  assert.equal(f16ToFloat32(0x7bff), 65504);
  assert.equal(f16ToFloat32(0x0001), 2 ** -24);
  assert.equal(f16ToFloat32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToFloat32(0x7e00)));
  assert.deepEqual([...decodeF16(Uint8Array.of(0x00, 0x3c, 0x00, 0xb8))], [1, -0.5]);
  assert.deepEqual([...decodeF32(Uint8Array.of(0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc1))], [1, -10]);
});
