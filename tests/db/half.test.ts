/**
 * f16 encoding, checked against the definition: every value between two adjacent halves goes to
 * the nearer one, an exact midpoint to the one with an even mantissa, and out-of-range values
 * saturate to infinity. The oracle is the decode table (exact) plus f32 midpoints, not the encoder.
 * Each path is checked: the TypeScript loops and the native addon's scalar and F16C loops (the
 * codec uses the native ones when the addon loads).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeKernels, type HalfPath } from '../../kernels/native/index';
import { decodeHalf, encodeHalf, toHalfBits } from '../../lib/trace/codec';

interface HalfCodec { name: string; encode(values: Float32Array): Uint16Array; decode(bits: Uint16Array): Float32Array }

const native = loadNativeKernels();
const nativeCodec = (path: HalfPath): HalfCodec => {
  assert.ok(native.ok, 'native kernels load');
  const kernels = native.kernels;
  return {
    name: `native ${path}`,
    encode: (values) => { const out = new Uint16Array(values.length); kernels.f32ToF16(values, out, path); return out; },
    decode: (bits) => { const out = new Float32Array(bits.length); kernels.f16ToF32(bits, out, path); return out; },
  };
};
const CODECS: HalfCodec[] = [{ name: 'typescript', encode: encodeHalf, decode: decodeHalf }, ...(native.ok ? [nativeCodec('scalar'), nativeCodec('f16c')] : [])];
if (!native.ok) console.log(`# native f16 paths not checked: ${native.reason}`);

const POSITIVE_FINITE_HALVES = 0x7c00;
const ALL_HALF_BITS = Uint16Array.from({ length: POSITIVE_FINITE_HALVES }, (_, bits) => bits);
const HALF_VALUES = decodeHalf(ALL_HALF_BITS);

/** The f32 right below / above x (x > 0, finite). */
function f32Neighbours(x: number): [below: number, above: number] {
  const word = new Float32Array([x]);
  const bits = new Uint32Array(word.buffer);
  const original = bits[0];
  bits[0] = original - 1;
  const below = word[0];
  bits[0] = original + 1;
  return [below, word[0]];
}

/** For each adjacent pair of positive halves: [probe value, expected half bits]. */
function roundingCases(): { values: Float32Array; expected: Uint16Array } {
  const values: number[] = [];
  const expected: number[] = [];
  for (let bits = 0; bits + 1 < POSITIVE_FINITE_HALVES; bits++) {
    const midpoint = (HALF_VALUES[bits] + HALF_VALUES[bits + 1]) / 2; // exact in f32: halves have 11 significant bits
    const [below, above] = f32Neighbours(midpoint);
    const even = bits % 2 === 0 ? bits : bits + 1;
    values.push(HALF_VALUES[bits], below, midpoint, above);
    expected.push(bits, bits, even, bits + 1);
  }
  return { values: Float32Array.from(values), expected: Uint16Array.from(expected) };
}

for (const codec of CODECS) {
  test(`${codec.name}: every f32 between two halves rounds to the nearer one, ties to the even mantissa`, () => {
    const { values, expected } = roundingCases();
    const encoded = codec.encode(values);
    for (let i = 0; i < values.length; i++) {
      if (encoded[i] !== expected[i]) assert.fail(`encode(${values[i]}) = 0x${encoded[i].toString(16)}, expected 0x${expected[i].toString(16)}`);
    }
    const negated = codec.encode(values.map((value) => -value));
    for (let i = 0; i < values.length; i++) assert.equal(negated[i], expected[i] | 0x8000, `sign of -${values[i]}`);
  });

  test(`${codec.name}: bulk encoding agrees with the scalar encoder on specials and range edges`, () => {
    const edges = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 1e9, -1e9, 2 ** -14, 2 ** -15, 2 ** -24, 2 ** -25, 2 ** -26, 1e-30]);
    assert.deepEqual([...codec.encode(edges)], [...edges].map(toHalfBits));
    assert.equal(codec.encode(Float32Array.of(65520))[0], 0x7c00, '65520 rounds up past the largest half to +Inf');
  });

  test(`${codec.name}: every half decodes to its exact value`, () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, bits) => bits);
    const decoded = codec.decode(all);
    const reference = decodeHalf(all);
    for (let bits = 0; bits < all.length; bits++) {
      if (!Object.is(decoded[bits], reference[bits]) && !(Number.isNaN(decoded[bits]) && Number.isNaN(reference[bits]))) assert.fail(`0x${bits.toString(16)} decoded to ${decoded[bits]}, expected ${reference[bits]}`);
    }
  });

  test(`${codec.name}: encoding reads a subarray in place, not the start of its buffer`, () => {
    const whole = Float32Array.from([1, 2, 0.5, 0.25, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual([...codec.decode(codec.encode(whole.subarray(2)))], [0.5, 0.25, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
}

test('the native encoder reports a finite value beyond f16 range, and only that', { skip: native.ok ? false : 'native kernels did not load' }, () => {
  assert.ok(native.ok);
  for (const path of ['scalar', 'f16c'] as const) {
    const out = new Uint16Array(20);
    const inRange = new Float32Array(20).fill(1);
    inRange[17] = Infinity;
    inRange[3] = -65504;
    assert.equal(native.kernels.f32ToF16(inRange, out, path), true, `${path}: infinities and +-65504 are in range`);
    for (const position of [2, 17]) { // in the 8-wide loop and in the tail
      const beyond = inRange.slice();
      beyond[position] = -65505;
      assert.equal(native.kernels.f32ToF16(beyond, out, path), false, `${path}: -65505 at ${position} is beyond f16 range`);
    }
  }
});
