/**
 * An independent MXFP4 decoder for the fp64 reference, written from spec §3 only
 * (deliberately not sharing code with lib/model/mxfp4.ts so the two cross-check each other).
 */
import type { Mxfp4Tensor } from '../../lib/model/weights';

export const MXFP4_VALUES_PER_BLOCK = 32;
export const MXFP4_BYTES_PER_BLOCK = 16;
const SCALE_EXPONENT_BIAS = 127;

/**
 * Value of one E2M1 nibble, derived from its bits rather than a table:
 * bit 3 sign, bits 2-1 exponent (bias 1), bit 0 mantissa; exponent 0 is subnormal.
 */
export function e2m1Value(nibble: number): number {
  const sign = nibble & 0b1000 ? -1 : 1;
  const exponent = (nibble >> 1) & 0b11;
  const mantissa = nibble & 0b1;
  const magnitude = exponent === 0 ? mantissa * 0.5 : 2 ** (exponent - 1) * (1 + mantissa / 2);
  return sign * magnitude;
}

/** E8M0 scale byte s means 2^(s - 127); 0xFF gets no NaN treatment (spec §3.3). */
export function e8m0Scale(scaleByte: number): number {
  return 2 ** (scaleByte - SCALE_EXPONENT_BIAS);
}

/** The 32 values of one block: byte j holds element 2j in its low nibble and 2j+1 in its high nibble. */
export function decodeMxfp4Block(blockBytes: Uint8Array, scaleByte: number): Float64Array {
  const scale = e8m0Scale(scaleByte);
  const values = new Float64Array(MXFP4_VALUES_PER_BLOCK);
  for (let j = 0; j < MXFP4_BYTES_PER_BLOCK; j++) {
    const byte = blockBytes[j];
    values[2 * j] = e2m1Value(byte & 0x0f) * scale;
    values[2 * j + 1] = e2m1Value(byte >> 4) * scale;
  }
  return values;
}

/** Checks that blocks/scales hold exactly [E, R, C/32, 16] and [E, R, C/32] bytes. */
export function checkMxfp4Tensor(tensor: Mxfp4Tensor, what: string): void {
  const [experts, rows, columns] = tensor.shape;
  if (columns % MXFP4_VALUES_PER_BLOCK !== 0) {
    throw new Error(`${what}: input width ${columns} is not a multiple of ${MXFP4_VALUES_PER_BLOCK}`);
  }
  const blockCount = experts * rows * (columns / MXFP4_VALUES_PER_BLOCK);
  if (tensor.blocks.length !== blockCount * MXFP4_BYTES_PER_BLOCK) {
    throw new Error(`${what}: blocks hold ${tensor.blocks.length} bytes, shape [${tensor.shape}] needs ${blockCount * MXFP4_BYTES_PER_BLOCK}`);
  }
  if (tensor.scales.length !== blockCount) {
    throw new Error(`${what}: scales hold ${tensor.scales.length} bytes, shape [${tensor.shape}] needs ${blockCount}`);
  }
}

/** One expert's decoded matrix, [R, C] row-major ([out, in]); the last axis is the reduction axis. */
export function decodeMxfp4Expert(tensor: Mxfp4Tensor, expert: number): Float64Array {
  const [, rows, columns] = tensor.shape;
  const blocksPerRow = columns / MXFP4_VALUES_PER_BLOCK;
  const firstBlock = expert * rows * blocksPerRow;
  const matrix = new Float64Array(rows * columns);
  for (let b = 0; b < rows * blocksPerRow; b++) {
    const block = firstBlock + b;
    const bytes = tensor.blocks.subarray(block * MXFP4_BYTES_PER_BLOCK, (block + 1) * MXFP4_BYTES_PER_BLOCK);
    matrix.set(decodeMxfp4Block(bytes, tensor.scales[block]), b * MXFP4_VALUES_PER_BLOCK);
  }
  return matrix;
}
