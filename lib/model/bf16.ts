/**
 * 16-bit float formats found in checkpoints: BF16 (the top half of a float32) and IEEE F16.
 * Byte buffers are little-endian, as safetensors stores them.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 value of one BF16 bit pattern (exact: BF16 is a truncated float32). */
export function bf16ToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** The BF16 pattern nearest to float32 bits, ties to even; a NaN stays a quiet NaN with its sign. */
function bf16FromFloat32Bits(bits: number): number {
  const isNaN = (bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0;
  if (isNaN) return (bits >>> 16) | 0x0040;
  const lsbOfKeptHalf = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsbOfKeptHalf) >>> 16) & 0xffff;
}

/** The BF16 bit pattern nearest to a value, ties to even; NaN stays NaN (quiet, sign kept). */
export function float32ToBf16(value: number): number {
  f32[0] = value;
  return bf16FromFloat32Bits(u32[0]);
}

/** Rounds a value to the nearest BF16 and back: what a BF16 checkpoint stores. */
export function roundToBf16(value: number): number {
  return bf16ToFloat32(float32ToBf16(value));
}

/** Little-endian BF16 bytes to float32 values. */
export function decodeBf16(bytes: Uint8Array): Float32Array {
  const count = bytes.length >>> 1;
  const words = new Uint32Array(count);
  for (let i = 0; i < count; i++) words[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
  return new Float32Array(words.buffer);
}

/** Float32 values to little-endian BF16 bytes, written into `out` (2 bytes per value). */
export function encodeBf16Into(values: Float32Array, out: Uint8Array, outOffset = 0): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const half = bf16FromFloat32Bits(bits[i]);
    out[outOffset + 2 * i] = half & 0xff;
    out[outOffset + 2 * i + 1] = half >>> 8;
  }
}

/** Float32 values to little-endian BF16 bytes. */
export function encodeBf16(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  encodeBf16Into(values instanceof Float32Array ? values : Float32Array.from(values), out);
  return out;
}

/** The float32 value of one IEEE half-precision bit pattern. */
export function f16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** Little-endian F16 bytes to float32 values. */
export function decodeF16(bytes: Uint8Array): Float32Array {
  const count = bytes.length >>> 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = f16ToFloat32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  return out;
}

/** Little-endian F32 bytes to float32 values (copied, so the result owns aligned memory). */
export function decodeF32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length >>> 2);
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The IEEE half bit pattern nearest to a float32 value (ties to even); overflow becomes infinity. */
export function float32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const bits = u32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    // Subnormal half: shift the full significand (with its implicit 1) into 10 bits, round to even.
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const truncated = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const roundUp = remainder > halfway || (remainder === halfway && (truncated & 1) === 1);
    return sign | (truncated + (roundUp ? 1 : 0));
  }
  const truncated = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  const roundUp = remainder > 0x1000 || (remainder === 0x1000 && (truncated & 1) === 1);
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity at the top).
  return sign | (truncated + (roundUp ? 1 : 0));
}
