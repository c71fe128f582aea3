/**
 * The native kernels (kernels/native/src, built by build.mjs at install): MXFP4 experts computed
 * straight from memory-mapped checkpoint bytes, bf16 matrix products, and a float64 log-sum-exp.
 * `loadNativeKernels()` loads the addon and runs a self-test against the TypeScript decoders;
 * either failing returns the reason instead of kernels, so callers can fall back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBf16, f16ToFloat32, float32ToF16Bits } from '../../lib/model/bf16';
import { decodeMxfp4 } from '../../lib/model/mxfp4';

export type Isa = 'scalar' | 'avx2' | 'avx512';
/** The f16 conversions' loops: the hardware F16C one (the default where the CPU has it) or the scalar reference. */
export type HalfPath = 'f16c' | 'scalar';
export const ISAS: readonly Isa[] = ['scalar', 'avx2', 'avx512'];

/** A file mapped read-only into memory; pages are read from disk as kernels touch them. */
export interface MappedFile {
  readonly byteLength: number;
  readonly path: string;
  close(): void;
}

/**
 * The experts' inputs: 'f32' computes on the float activations (exact weights, float32 sums: the
 * oracle's tolerances), 'q8' first rounds them to 8-bit blocks of 32 with an f16 step
 * (llama.cpp's Q8_0 for its MXFP4 dot) and multiplies in integers: faster, lossy.
 */
export type ExpertInputs = 'f32' | 'q8';
export const EXPERT_INPUTS: readonly ExpertInputs[] = ['f32', 'q8'];

/** Bytes of a weight: a typed array, or a byte offset into a mapped file (no copy). */
export type WeightBytes = Uint8Array | Uint16Array | { file: MappedFile; offset: number };

export interface MoeCall {
  tokens: number;
  hidden: number;
  intermediate: number;
  experts: number;
  k: number;
  swigluLimit: number;
  swigluAlpha: number;
  /** [E, 2I, H/32, 16] nibbles, rows interleaved gate/linear (spec §3). */
  gateUpBlocks: WeightBytes;
  gateUpScales: WeightBytes;
  gateUpBias: Float32Array;
  /** [E, H, I/32, 16] */
  downBlocks: WeightBytes;
  downScales: WeightBytes;
  downBias: Float32Array;
  /** [S, H] normalized MoE input. */
  x: Float32Array;
  /** [S, k] expert ids and their routing weights. */
  ids: Int32Array;
  weights: Float32Array;
  /** [S, H] added to the output (the residual stream), if given. */
  residual?: Float32Array;
  out: Float32Array;
  isa?: Isa;
  /** Default 'f32'. */
  inputs?: ExpertInputs;
}

/** One weight of a `bf16Linear` call: out [tokens, rows] = x W^T + bias (+ residual). */
export interface Bf16Projection {
  /** bf16 [rows, cols] */
  weight: WeightBytes;
  rows: number;
  bias?: Float32Array;
  /** [tokens, rows], added after the bias. */
  residual?: Float32Array;
  out: Float32Array;
}

export interface Bf16LinearCall {
  /** [tokens, cols], shared by every projection. */
  x: Float32Array;
  tokens: number;
  cols: number;
  projections: Bf16Projection[];
  isa?: Isa;
}

/**
 * One query token's attention over a KV cache the caller holds (kernels.h, AttentionDecode):
 * rotary on q and the new k, the new key and value written at row `position`, sink softmax over
 * the visible keys, the context. keys/values are [kvHeads, capacity, headDim], keys rotated.
 */
export interface AttentionDecodeCall {
  heads: number;
  kvHeads: number;
  headDim: number;
  position: number;
  /** Keys visible to the query, itself included; 0 for all. */
  window: number;
  capacity: number;
  scale: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** This position's rotary rows [headDim / 2]. */
  cos: Float32Array;
  sin: Float32Array;
  sinks: Float32Array;
  keys: Float32Array;
  values: Float32Array;
  /** [heads * headDim] out. */
  context: Float32Array;
  /** [heads, position + 1] out: probabilities over real keys (0 outside the window), when given. */
  probs?: Float32Array;
  /** Default: the best this CPU has; scalar is the libm reference. */
  isa?: Isa;
}

export interface LogitStats {
  logSumExp: number;
  argmax: number;
}

export interface NativeKernels {
  MappedFile: new (file: string) => MappedFile;
  moe(call: MoeCall): void;
  /** One MXFP4 row dot product per row: blocks [rows, cols/32, 16], scales [rows, cols/32]. */
  mxfp4MatVec(blocks: WeightBytes, scales: WeightBytes, rows: number, cols: number, x: Float32Array, isa?: Isa, inputs?: ExpertInputs): Float32Array;
  /** x [n * 32] as the 'q8' inputs: q [n * 32] = round(x * 127 / max|x|) to nearest even, d [n] = max|x| / 127 rounded to f16 per block (NaN if the block holds one). */
  quantizeQ8(x: Float32Array, q: Int8Array, d: Float32Array): void;
  /** out[t, r] = W[r, :] . x[t, :], W bf16 [rows, cols]. */
  bf16MatMul(weight: WeightBytes, rows: number, cols: number, x: Float32Array, tokens: number, out: Float32Array, isa?: Isa): void;
  /** Every projection of one input in one parallel pass (q, k and v; o with the residual). */
  bf16Linear(call: Bf16LinearCall): void;
  bf16GatherRows(table: WeightBytes, rows: number, cols: number, ids: Int32Array, out: Float32Array): void;
  rmsNorm(x: Float32Array, weight: Float32Array, rows: number, cols: number, eps: number, out: Float32Array): void;
  attentionDecode(call: AttentionDecodeCall): void;
  /**
   * log(sum(exp(x))) (exp per term in float32, summed in float64: error ~1e-9 at 201k logits) and
   * the first index of the largest value, in one call; NaN anywhere gives logSumExp NaN, argmax -1.
   */
  logitStats(x: Float32Array, isa?: Isa): LogitStats;
  /** Reads every byte once on all threads; returns their wrapping 64-bit word sum (a bandwidth probe). */
  readAll(bytes: Uint8Array): bigint;
  /** IEEE f16 from float32, round to nearest even; false when a finite value is beyond +-65504 (all are converted). */
  f32ToF16(values: Float32Array, out: Uint16Array, path?: HalfPath): boolean;
  f16ToF32(bits: Uint16Array, out: Float32Array, path?: HalfPath): void;
  /** Whether the CPU has the F16C conversions (else both paths run the scalar loop). */
  hasF16c(): boolean;
  /** Whether the CPU has AVX-512 VNNI: then the avx512 Q8 expert dot uses it, else the AVX2 one. */
  hasAvx512Vnni(): boolean;
  setThreads(threads: number): void;
  threads(): number;
  /** The instruction set kernels use when none is named. */
  bestIsa(): Isa;
}

const ADDON_RELATIVE = path.join('build', 'Release', 'cotscope_native.node');

/**
 * The built addon: beside this file, or under the working directory's kernels/native when this
 * module runs from a bundle (Next.js server chunks live elsewhere).
 */
export const ADDON_PATH = [path.join(path.dirname(fileURLToPath(import.meta.url)), ADDON_RELATIVE), path.resolve('kernels', 'native', ADDON_RELATIVE)].find((file) => fs.existsSync(file)) ?? path.resolve('kernels', 'native', ADDON_RELATIVE);

export type NativeLoad = { ok: true; kernels: NativeKernels; isa: Isa } | { ok: false; reason: string };

let cached: NativeLoad | null = null;

/** Instruction sets this CPU can run, scalar first. */
export function supportedIsas(kernels: NativeKernels): Isa[] {
  return ISAS.slice(0, ISAS.indexOf(kernels.bestIsa()) + 1);
}

/** A small deterministic pseudo-random sequence for the self-test (no dependency on test helpers). */
function selfTestValues(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = (state / 2 ** 32) * 4 - 2;
  }
  return out;
}

/**
 * Checks every supported instruction set against float64 dot products of the TypeScript
 * decoders (lib/model/mxfp4.ts, bf16.ts): MXFP4 rows with every nibble and a range of scales
 * (on float and on q8 inputs), and bf16 rows. Returns a description of the first mismatch, or null.
 */
export function selfTest(kernels: NativeKernels): string | null {
  const rows = 3;
  const cols = 96;
  const blocks = new Uint8Array((rows * cols) / 2);
  for (let i = 0; i < blocks.length; i++) blocks[i] = (i * 37 + 11) & 0xff;
  const scales = Uint8Array.from({ length: (rows * cols) / 32 }, (_, i) => 120 + i);
  const x = selfTestValues(cols, 7);
  const decoded = decodeMxfp4(blocks, scales);
  const bf16Bytes = new Uint8Array(rows * cols * 2);
  for (let i = 0; i < bf16Bytes.length; i++) bf16Bytes[i] = (i * 53 + 5) & 0xff;
  for (let i = 1; i < bf16Bytes.length; i += 2) bf16Bytes[i] = (bf16Bytes[i] & 0x83) | 0x3c; // random sign, |w| in [2^-8, 1)
  const bf16Values = decodeBf16(bf16Bytes);
  const dot = (weights: Float32Array, row: number) => {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += weights[row * cols + c] * x[c];
    return sum;
  };
  const close = (got: number, want: number, magnitude: number) => Math.abs(got - want) <= 1e-5 * Math.max(1, magnitude);
  // The q8 option's dots against the fp64 dot of the inputs it quantized.
  const q = new Int8Array(cols);
  const steps = new Float32Array(cols / 32);
  kernels.quantizeQ8(x, q, steps);
  const quantized = Float64Array.from(q, (value, i) => value * steps[Math.floor(i / 32)]);
  const q8Dot = (row: number) => {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += decoded[row * cols + c] * quantized[c];
    return sum;
  };
  const halfFailure = halfSelfTest(kernels);
  if (halfFailure) return halfFailure;
  for (const isa of supportedIsas(kernels)) {
    const mx = kernels.mxfp4MatVec(blocks, scales, rows, cols, x, isa);
    const mxQ8 = kernels.mxfp4MatVec(blocks, scales, rows, cols, x, isa, 'q8');
    const bf = new Float32Array(rows);
    kernels.bf16MatMul(new Uint16Array(bf16Bytes.buffer), rows, cols, x, 1, bf, isa);
    for (let r = 0; r < rows; r++) {
      const wantMx = dot(decoded, r);
      if (!close(mx[r], wantMx, Math.abs(wantMx))) return `${isa} MXFP4 row ${r}: got ${mx[r]}, expected ${wantMx}`;
      if (!close(mxQ8[r], q8Dot(r), Math.abs(wantMx))) return `${isa} MXFP4 q8 row ${r}: got ${mxQ8[r]}, expected ${q8Dot(r)}`;
      const wantBf = dot(bf16Values, r);
      if (!close(bf[r], wantBf, Math.abs(wantBf))) return `${isa} bf16 row ${r}: got ${bf[r]}, expected ${wantBf}`;
    }
  }
  return null;
}

/** Both f16 paths against the TypeScript conversions: rounding ties, subnormals, range edges, specials, and every half decoded. */
function halfSelfTest(kernels: NativeKernels): string | null {
  const values = Float32Array.from([0, -0, 1, -1.5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-30, 65504, 65519.99, 65520, -1e9, Infinity, -Infinity, 0.1, 3.14159, -2.71828, 1234.5678]);
  const allHalves = Uint16Array.from({ length: 0x10000 }, (_, bits) => bits);
  for (const halfPath of ['scalar', 'f16c'] as const) {
    const bits = new Uint16Array(values.length);
    if (kernels.f32ToF16(values, bits, halfPath)) return `${halfPath} f16 encoder did not report 65519.99 beyond f16's range`;
    if (!kernels.f32ToF16(Float32Array.of(Infinity, -65504), new Uint16Array(2), halfPath)) return `${halfPath} f16 encoder reported Infinity or -65504 beyond f16's range`;
    for (let i = 0; i < values.length; i++) {
      if (bits[i] !== float32ToF16Bits(values[i])) return `${halfPath} f16 of ${values[i]}: got 0x${bits[i].toString(16)}, expected 0x${float32ToF16Bits(values[i]).toString(16)}`;
    }
    const decoded = new Float32Array(allHalves.length);
    kernels.f16ToF32(allHalves, decoded, halfPath);
    for (let h = 0; h < allHalves.length; h++) {
      if (!Object.is(decoded[h], f16ToFloat32(h)) && !(Number.isNaN(decoded[h]) && Number.isNaN(f16ToFloat32(h)))) return `${halfPath} f16 0x${h.toString(16)} decoded to ${decoded[h]}, expected ${f16ToFloat32(h)}`;
    }
  }
  return null;
}

/** Loads the addon once and self-tests it. `COTSCOPE_NATIVE=0` turns the native kernels off. */
export function loadNativeKernels(): NativeLoad {
  if (cached) return cached;
  if (process.env.COTSCOPE_NATIVE === '0') return (cached = { ok: false, reason: 'turned off by COTSCOPE_NATIVE=0' });
  // turbopackIgnore: a runtime path; traced, it pulls the whole project (models included) into the build.
  if (!fs.existsSync(/*turbopackIgnore: true*/ ADDON_PATH)) {
    return (cached = { ok: false, reason: `${path.relative(process.cwd(), ADDON_PATH)} is missing (the install-time build failed or was skipped; run npm run native:build)` });
  }
  let kernels: NativeKernels;
  try {
    // process.dlopen rather than require: bundlers (Next.js) must not try to bundle the addon.
    const addon = { exports: {} };
    process.dlopen(addon, ADDON_PATH);
    kernels = addon.exports as NativeKernels;
  } catch (error) {
    return (cached = { ok: false, reason: `cannot load ${ADDON_PATH}: ${(error as Error).message}` });
  }
  const failure = selfTest(kernels);
  if (failure) return (cached = { ok: false, reason: `self-test failed: ${failure}` });
  return (cached = { ok: true, kernels, isa: kernels.bestIsa() });
}
