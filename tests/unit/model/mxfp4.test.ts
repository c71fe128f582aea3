import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseScaleByte,
  decodeMxfp4,
  decodeMxfp4Expert,
  encodeMxfp4,
  mxfp4ToInt8Blocks,
  nearestE2M1,
} from '../../../lib/model/mxfp4';

/** Spec §3 table, typed by hand: the value of each nibble 0..15. */
const SPEC_E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** One 16-byte block whose every byte is `byte`, plus its scale byte. */
function uniformBlock(byte: number, scale: number): { blocks: Uint8Array; scales: Uint8Array } {
  return { blocks: new Uint8Array(16).fill(byte), scales: Uint8Array.of(scale) };
}

test('even element sits in the low nibble, odd element in the high nibble', () => {
  const blocks = new Uint8Array(16);
  blocks[0] = 0x21; // element 0 <- nibble 1 (0.5), element 1 <- nibble 2 (1.0)
  blocks[3] = 0x7f; // element 6 <- nibble 15 (-6), element 7 <- nibble 7 (6)
  const decoded = decodeMxfp4(blocks, Uint8Array.of(127));
  assert.equal(decoded[0], 0.5);
  assert.equal(decoded[1], 1.0);
  assert.equal(decoded[6], -6);
  assert.equal(decoded[7], 6);
  assert.equal(decoded[2], 0);
});

test('every nibble decodes to its E2M1 value from the spec table', () => {
  const blocks = new Uint8Array(16);
  for (let j = 0; j < 16; j++) blocks[j] = ((2 * j) % 16) | (((2 * j + 1) % 16) << 4);
  const decoded = decodeMxfp4(blocks, Uint8Array.of(127));
  for (let element = 0; element < 32; element++) {
    assert.ok(Object.is(decoded[element], SPEC_E2M1[element % 16]), `element ${element}: ${decoded[element]}`);
  }
});

test('nibble 8 is negative zero', () => {
  const decoded = decodeMxfp4(uniformBlock(0x88, 127).blocks, Uint8Array.of(127));
  assert.ok(Object.is(decoded[0], -0));
  assert.ok(Object.is(decoded[31], -0));
  assert.ok(Object.is(decodeMxfp4(uniformBlock(0x00, 127).blocks, Uint8Array.of(127))[0], 0));
});

test('scale byte 127 multiplies by 1, 128 by 2, 126 by one half', () => {
  const sixes = 0x77;
  assert.equal(decodeMxfp4(uniformBlock(sixes, 127).blocks, Uint8Array.of(127))[5], 6);
  assert.equal(decodeMxfp4(uniformBlock(sixes, 128).blocks, Uint8Array.of(128))[5], 12);
  assert.equal(decodeMxfp4(uniformBlock(sixes, 126).blocks, Uint8Array.of(126))[5], 3);
  assert.equal(decodeMxfp4(uniformBlock(0x99, 130).blocks, Uint8Array.of(130))[0], -4); // -0.5 * 8
});

test('extreme scale bytes decode to exact powers of two; float32 overflows to infinity, never NaN', () => {
  const decode = (byte: number, scale: number) => decodeMxfp4(new Uint8Array(16).fill(byte), Uint8Array.of(scale))[0];
  assert.equal(decode(0x11, 0), 2 ** -128); // 0.5 * 2^-127, a float32 subnormal
  assert.equal(decode(0x22, 0), 2 ** -127);
  assert.equal(decode(0x77, 252), 6 * 2 ** 125); // the largest scale where every nibble stays finite
  assert.equal(decode(0x77, 253), Infinity); // 6 * 2^126 > float32 max
  assert.equal(decode(0x11, 255), 2 ** 127);
  assert.equal(decode(0x22, 255), Infinity); // 1.0 * 2^128 exceeds float32; no NaN handling for 0xFF (spec §3)
  assert.equal(decode(0xaa, 255), -Infinity);
});

test('decoded rows are [R, G*32]: block g of row r fills columns g*32..g*32+31 with its own scale', () => {
  // R = 2 rows, G = 2 groups: blocks [2, 2, 16], scales [2, 2].
  const blocks = new Uint8Array(4 * 16);
  blocks.fill(0x22, 0, 16); // row 0 group 0: all 1.0
  blocks.fill(0x33, 16, 32); // row 0 group 1: all 1.5
  blocks.fill(0x44, 32, 48); // row 1 group 0: all 2.0
  blocks.fill(0xaa, 48, 64); // row 1 group 1: all -1.0
  const scales = Uint8Array.of(127, 128, 126, 129);
  const decoded = decodeMxfp4(blocks, scales);
  assert.equal(decoded.length, 2 * 64);
  assert.equal(decoded[0 * 64 + 0], 1);
  assert.equal(decoded[0 * 64 + 33], 3);
  assert.equal(decoded[1 * 64 + 31], 1);
  assert.equal(decoded[1 * 64 + 63], -4);
});

test('blocks and scales that do not pair up are refused', () => {
  assert.throws(() => decodeMxfp4(new Uint8Array(17), Uint8Array.of(127)), /blocks hold 17 bytes/);
});

test('decoding one expert gives exactly that expert\'s rows', () => {
  // E = 2 experts, R = 1 row, C = 32: expert 1 is all -3 (nibble 13) at scale 1.
  const blocks = new Uint8Array(32);
  blocks.fill(0xdd, 16);
  const tensor = { blocks, scales: Uint8Array.of(127, 127), shape: [2, 1, 32] as [number, number, number] };
  assert.deepEqual([...decodeMxfp4Expert(tensor, 1)], new Array(32).fill(-3));
  assert.deepEqual([...decodeMxfp4Expert(tensor, 0)], new Array(32).fill(0));
  assert.throws(() => decodeMxfp4Expert(tensor, 2), /outside/);
});

test('the encoder picks the smallest scale whose 6*2^e covers the block maximum', () => {
  assert.equal(chooseScaleByte([6]), 127);
  assert.equal(chooseScaleByte([6.01]), 128);
  assert.equal(chooseScaleByte([-12]), 128);
  assert.equal(chooseScaleByte([3]), 126);
  assert.equal(chooseScaleByte([0, 0]), 127);
});

test('the encoder rounds to the nearest E2M1 value, ties to the even nibble', () => {
  assert.equal(nearestE2M1(0.74), 1); // 0.5
  assert.equal(nearestE2M1(0.75), 2); // tie 0.5|1.0 -> nibble 2
  assert.equal(nearestE2M1(2.5), 4); // tie 2|3 -> nibble 4
  assert.equal(nearestE2M1(5), 6); // tie 4|6 -> nibble 6
  assert.equal(nearestE2M1(100), 7);
  assert.equal(nearestE2M1(-1.4), 0xb);
  assert.equal(nearestE2M1(-0), 8);
});

test('values on the E2M1 grid survive encode then decode exactly', () => {
  const values = Float32Array.from({ length: 64 }, (_, i) => SPEC_E2M1[i % 16] * (i < 32 ? 1 : 0.25));
  const { blocks, scales } = encodeMxfp4(values);
  assert.deepEqual([...scales], [127, 125]);
  const decoded = decodeMxfp4(blocks, scales);
  for (let i = 0; i < 64; i++) assert.ok(Object.is(decoded[i], values[i]), `element ${i}`);
});

test('encoding error is at most one unit of the block scale (half the widest E2M1 gap)', () => {
  const values = Float32Array.from({ length: 32 * 8 }, (_, i) => Math.sin(i * 12.9898) * (1 + (i >> 5)));
  const { blocks, scales } = encodeMxfp4(values);
  const decoded = decodeMxfp4(blocks, scales);
  for (let i = 0; i < values.length; i++) {
    const unit = 2 ** (scales[i >> 5] - 127);
    assert.ok(Math.abs(decoded[i] - values[i]) <= unit, `element ${i}: ${values[i]} -> ${decoded[i]}`);
  }
  assert.throws(() => encodeMxfp4(new Float32Array(31)), /multiple of 32/);
  assert.throws(() => encodeMxfp4(new Float32Array(32).fill(NaN)), /cannot encode NaN/);
});

test('int8 blocks are 2*E2M1 and int8 * scale reproduces the decoded value for every nibble and scale byte', () => {
  const blocks = new Uint8Array(16 * 256);
  const scales = new Uint8Array(256);
  for (let s = 0; s < 256; s++) {
    scales[s] = s;
    for (let j = 0; j < 16; j++) blocks[s * 16 + j] = ((2 * j) % 16) | (((2 * j + 1) % 16) << 4);
  }
  const decoded = decodeMxfp4(blocks, scales);
  const { values, scales: int8Scales } = mxfp4ToInt8Blocks(blocks, scales);
  for (let i = 0; i < 32; i++) assert.ok(values[i] === 2 * SPEC_E2M1[i % 16], `element ${i}`);
  for (let i = 0; i < decoded.length; i++) {
    assert.ok(values[i] >= -12 && values[i] <= 12);
    // Equal as numbers: the int8 form has no negative zero.
    assert.ok(Math.fround(values[i] * int8Scales[i >> 5]) === decoded[i], `element ${i}, scale byte ${i >> 5}`);
  }
  assert.equal(int8Scales[128], 1);
  assert.equal(int8Scales[127], 0.5);
});
