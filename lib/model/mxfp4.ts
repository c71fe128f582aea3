/**
 * MXFP4 (OCP microscaling FP4), exactly as spec §3: 32 E2M1 values share one E8M0 scale.
 * Blocks are [..., R, G, 16] u8 (byte j: element 2j in the low nibble, 2j+1 in the high nibble),
 * scales are [..., R, G] u8 with bias 127. Decoded rows are [..., R, G * 32].
 */
import { MXFP4_BLOCK } from './config';
import type { Mxfp4Tensor } from './weights';

export const MXFP4_BYTES_PER_BLOCK = MXFP4_BLOCK / 2;
export const E8M0_BIAS = 127;

/** E2M1 values by nibble: bit 3 sign, bits 2-1 exponent, bit 0 mantissa. Index 8 is -0. */
export const E2M1_VALUES: readonly number[] = [
  +0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
  -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];
const E2M1_MAX = 6;

/** 2^(s - 127). Exact: powers of two with an integer exponent are exact doubles. */
export function e8m0Scale(scaleByte: number): number {
  return 2 ** (scaleByte - E8M0_BIAS);
}

function checkPairing(blocks: Uint8Array, scales: Uint8Array): void {
  if (blocks.length !== scales.length * MXFP4_BYTES_PER_BLOCK) {
    throw new RangeError(`MXFP4 blocks hold ${blocks.length} bytes but ${scales.length} scales need ${scales.length * MXFP4_BYTES_PER_BLOCK}`);
  }
}

/** Decodes block-major MXFP4 into `out` (32 values per scale, in element order). */
function decodeInto(blocks: Uint8Array, scales: Uint8Array, out: Float32Array): void {
  for (let block = 0; block < scales.length; block++) {
    const scale = e8m0Scale(scales[block]);
    const byteBase = block * MXFP4_BYTES_PER_BLOCK;
    const outBase = block * MXFP4_BLOCK;
    for (let j = 0; j < MXFP4_BYTES_PER_BLOCK; j++) {
      const byte = blocks[byteBase + j];
      out[outBase + 2 * j] = E2M1_VALUES[byte & 0x0f] * scale;
      out[outBase + 2 * j + 1] = E2M1_VALUES[byte >>> 4] * scale;
    }
  }
}

/** Decodes blocks [..., R, G, 16] with scales [..., R, G] to float32 [..., R, G * 32] (flat). */
export function decodeMxfp4(blocks: Uint8Array, scales: Uint8Array): Float32Array {
  checkPairing(blocks, scales);
  const out = new Float32Array(scales.length * MXFP4_BLOCK);
  decodeInto(blocks, scales, out);
  return out;
}

/** Decodes one expert of an [E, R, C] expert tensor: float32 [R, C], the weight as [out, in]. */
export function decodeMxfp4Expert(tensor: Mxfp4Tensor, expert: number): Float32Array {
  const [experts, rows, cols] = tensor.shape;
  if (!Number.isInteger(expert) || expert < 0 || expert >= experts) {
    throw new RangeError(`expert ${expert} is outside [0, ${experts})`);
  }
  const scalesPerExpert = (rows * cols) / MXFP4_BLOCK;
  const scales = tensor.scales.subarray(expert * scalesPerExpert, (expert + 1) * scalesPerExpert);
  const blocks = tensor.blocks.subarray(expert * scalesPerExpert * MXFP4_BYTES_PER_BLOCK, (expert + 1) * scalesPerExpert * MXFP4_BYTES_PER_BLOCK);
  return decodeMxfp4(blocks, scales);
}

/**
 * The E2M1 nibble nearest to a value (already divided by its block scale); ties go to the even
 * nibble. Each comparison is a midpoint between neighbouring grid values: strict where the tie
 * belongs to the lower (even) nibble, inclusive where it belongs to the upper (even) one.
 */
export function nearestE2M1(value: number): number {
  const magnitude = Math.abs(value);
  let index = 0;
  if (magnitude > 0.25) index = 1;
  if (magnitude >= 0.75) index = 2;
  if (magnitude > 1.25) index = 3;
  if (magnitude >= 1.75) index = 4;
  if (magnitude > 2.5) index = 5;
  if (magnitude >= 3.5) index = 6;
  if (magnitude > 5) index = 7;
  const negative = value < 0 || (value === 0 && 1 / value < 0);
  return negative ? index | 0x8 : index;
}

/** The smallest scale byte whose 6 * 2^e covers the block's largest magnitude (clamped to 0..254). */
export function chooseScaleByte(block: ArrayLike<number>): number {
  let maxMagnitude = 0;
  for (let i = 0; i < block.length; i++) maxMagnitude = Math.max(maxMagnitude, Math.abs(block[i]));
  if (maxMagnitude === 0) return E8M0_BIAS;
  let exponent = Math.ceil(Math.log2(maxMagnitude / E2M1_MAX));
  // log2 can land one off at exact powers of two; settle on the smallest exponent that covers.
  while (E2M1_MAX * 2 ** (exponent - 1) >= maxMagnitude) exponent--;
  while (E2M1_MAX * 2 ** exponent < maxMagnitude) exponent++;
  return Math.min(254, Math.max(0, exponent + E8M0_BIAS));
}

/** Encodes float32 values (length a multiple of 32, row-major [..., C]) to MXFP4 blocks and scales. */
export function encodeMxfp4(values: ArrayLike<number>): { blocks: Uint8Array; scales: Uint8Array } {
  if (values.length % MXFP4_BLOCK !== 0) throw new RangeError(`MXFP4 needs a multiple of ${MXFP4_BLOCK} values (got ${values.length})`);
  const blockCount = values.length / MXFP4_BLOCK;
  const blocks = new Uint8Array(blockCount * MXFP4_BYTES_PER_BLOCK);
  const scales = new Uint8Array(blockCount);
  const block = new Float64Array(MXFP4_BLOCK);
  for (let b = 0; b < blockCount; b++) {
    for (let k = 0; k < MXFP4_BLOCK; k++) {
      const value = values[b * MXFP4_BLOCK + k];
      if (!Number.isFinite(value)) throw new RangeError(`MXFP4 cannot encode ${value} (element ${b * MXFP4_BLOCK + k})`);
      block[k] = value;
    }
    const scaleByte = chooseScaleByte(block);
    const inverseScale = 1 / e8m0Scale(scaleByte); // exact: a power of two
    scales[b] = scaleByte;
    for (let j = 0; j < MXFP4_BYTES_PER_BLOCK; j++) {
      const low = nearestE2M1(block[2 * j] * inverseScale);
      const high = nearestE2M1(block[2 * j + 1] * inverseScale);
      blocks[b * MXFP4_BYTES_PER_BLOCK + j] = low | (high << 4);
    }
  }
  return { blocks, scales };
}

/** MXFP4 re-expressed for QMoE int8: one int8 per element and one float scale per 32-element block. */
export interface Int8Blocks {
  /** 2 * E2M1 value, in [-12, 12], element order as decoded. */
  values: Int8Array;
  /** 2^(s - 128) per block, so values[i] * scales[block] equals the MXFP4 value exactly. */
  scales: Float32Array;
}

/** Lossless MXFP4 -> int8 (platform notes): doubling E2M1 gives integers, halving the scale compensates. */
export function mxfp4ToInt8Blocks(blocks: Uint8Array, scales: Uint8Array): Int8Blocks {
  checkPairing(blocks, scales);
  const values = new Int8Array(scales.length * MXFP4_BLOCK);
  const int8Scales = new Float32Array(scales.length);
  for (let block = 0; block < scales.length; block++) {
    int8Scales[block] = 2 ** (scales[block] - E8M0_BIAS - 1);
    for (let j = 0; j < MXFP4_BYTES_PER_BLOCK; j++) {
      const byte = blocks[block * MXFP4_BYTES_PER_BLOCK + j];
      values[block * MXFP4_BLOCK + 2 * j] = 2 * E2M1_VALUES[byte & 0x0f];
      values[block * MXFP4_BLOCK + 2 * j + 1] = 2 * E2M1_VALUES[byte >>> 4];
    }
  }
  return { values, scales: int8Scales };
}
