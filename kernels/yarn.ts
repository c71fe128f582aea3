/**
 * YaRN rotary tables (spec §4.4), computed in float64 and rounded to float32 once.
 * 'exact' is OpenAI's reference (band edges not rounded); 'llamacpp' floors/ceils the band edges
 * the way llama.cpp does (8.09 -> 8, 17.40 -> 18 for head_dim 64).
 */
import type { GptOssConfig } from '../lib/model/config';

export type YarnMode = 'exact' | 'llamacpp';

export interface RopeTables {
  /** [maxPositions, headDim/2] row-major: concentration * cos(p * f_i). */
  cos: Float32Array;
  /** [maxPositions, headDim/2] row-major: concentration * sin(p * f_i). */
  sin: Float32Array;
  maxPositions: number;
  /** headDim / 2 */
  pairs: number;
  /** Per-pair frequency f_i after YaRN blending (radians per position). */
  frequencies: Float64Array;
  /** c = 0.1 ln(s) + 1, multiplied into both tables. */
  concentration: number;
  /** Band edges in pair-index units, after the mode's rounding. */
  low: number;
  high: number;
}

/** Pair index at which a frequency makes `rotations` turns over the original context. */
function correctionDim(rotations: number, pairs: number, originalContext: number, theta: number): number {
  return (pairs * Math.log(originalContext / (rotations * 2 * Math.PI))) / Math.log(theta);
}

export function yarnBandEdges(config: GptOssConfig, mode: YarnMode): { low: number; high: number } {
  const pairs = config.headDim / 2;
  const { betaFast, betaSlow, originalMaxPositionEmbeddings } = config.yarn;
  const low = correctionDim(betaFast, pairs, originalMaxPositionEmbeddings, config.ropeTheta);
  const high = correctionDim(betaSlow, pairs, originalMaxPositionEmbeddings, config.ropeTheta);
  if (mode === 'exact') return { low, high };
  return { low: Math.max(0, Math.floor(low)), high: Math.min(config.headDim - 1, Math.ceil(high)) };
}

export function yarnConcentration(factor: number): number {
  return 0.1 * Math.log(factor) + 1;
}

export function yarnFrequencies(config: GptOssConfig, mode: YarnMode): Float64Array {
  const pairs = config.headDim / 2;
  const { low, high } = yarnBandEdges(config, mode);
  const frequencies = new Float64Array(pairs);
  for (let i = 0; i < pairs; i++) {
    const original = Math.pow(config.ropeTheta, (-2 * i) / config.headDim);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp;
    frequencies[i] = extrapolation * original + (1 - extrapolation) * (original / config.yarn.factor);
  }
  return frequencies;
}

export function yarnRopeTables(config: GptOssConfig, maxPositions: number, mode: YarnMode): RopeTables {
  if (!Number.isInteger(maxPositions) || maxPositions <= 0) {
    throw new Error(`maxPositions must be a positive integer (got ${maxPositions})`);
  }
  const pairs = config.headDim / 2;
  const frequencies = yarnFrequencies(config, mode);
  const concentration = yarnConcentration(config.yarn.factor);
  const cos = new Float32Array(maxPositions * pairs);
  const sin = new Float32Array(maxPositions * pairs);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < pairs; i++) {
      const angle = p * frequencies[i];
      cos[p * pairs + i] = concentration * Math.cos(angle);
      sin[p * pairs + i] = concentration * Math.sin(angle);
    }
  }
  return { cos, sin, maxPositions, pairs, frequencies, concentration, ...yarnBandEdges(config, mode) };
}
