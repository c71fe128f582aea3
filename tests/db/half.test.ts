/**
 * f16 encoding, checked against the definition: every value between two adjacent halves goes to
 * the nearer one, an exact midpoint to the one with an even mantissa, and out-of-range values
 * saturate to infinity. The oracle is the decode table (exact) plus f32 midpoints, not the encoder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeHalf, encodeHalf, toHalfBits } from '../../lib/trace/codec';

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

test('every f32 between two halves rounds to the nearer one, ties to the even mantissa', () => {
  const { values, expected } = roundingCases();
  const encoded = encodeHalf(values);
  for (let i = 0; i < values.length; i++) {
    if (encoded[i] !== expected[i]) assert.fail(`encodeHalf(${values[i]}) = 0x${encoded[i].toString(16)}, expected 0x${expected[i].toString(16)}`);
  }
  const negated = encodeHalf(values.map((value) => -value));
  for (let i = 0; i < values.length; i++) assert.equal(negated[i], expected[i] | 0x8000, `sign of -${values[i]}`);
});

test('bulk encoding agrees with the scalar encoder on specials and range edges', () => {
  const edges = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 1e9, -1e9, 2 ** -14, 2 ** -15, 2 ** -24, 2 ** -25, 2 ** -26, 1e-30]);
  assert.deepEqual([...encodeHalf(edges)], [...edges].map(toHalfBits));
  assert.equal(encodeHalf(Float32Array.of(65520))[0], 0x7c00, '65520 rounds up past the largest half to +Inf');
});

test('encoding reads a subarray in place, not the start of its buffer', () => {
  const whole = Float32Array.from([1, 2, 0.5, 0.25]);
  assert.deepEqual([...decodeHalf(encodeHalf(whole.subarray(2)))], [0.5, 0.25]);
});
