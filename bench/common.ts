/** Pieces every benchmark shares: the capture modes compared, a fixed prompt, medians. */
import { SeededRandom } from '../lib/runtime/sampler';
import type { GptOssConfig } from '../lib/model/config';
import type { CaptureOptions } from '../lib/runtime/types';

export const CAPTURE_MODES: Record<'off' | 'routing' | 'routing+attention', CaptureOptions> = {
  off: { routing: false, attention: false },
  routing: { routing: true, attention: false },
  'routing+attention': { routing: true, attention: true, attentionTopK: 8 },
};

/** The order of one round of an interleaved benchmark: every item once, the first one rotating with the round. */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  return items.map((_, i) => items[(i + round) % items.length]);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A deterministic prompt of ordinary (BPE) token ids. */
export function benchPromptIds(count: number): number[] {
  const random = new SeededRandom(42);
  return Array.from({ length: count }, () => Math.floor(random.next() * 199998));
}

/** Where bench:bandwidth leaves its figures for bench:peer. */
export const BANDWIDTH_RESULTS_FILE = 'bench/results/bandwidth.json';

/** Spread of samples: (max - min) / median, as a fraction. */
export function spread(values: number[]): number {
  const middle = median(values);
  return middle === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / middle;
}

/**
 * Weight bytes one decoded token must read on the native MXFP4 path: the top-k experts in MXFP4
 * (17 bytes per 32 weights), the attention projections (q, k, v, o), router and lm_head in bf16
 * as the checkpoint stores them (the embedding row, biases and norms are negligible).
 */
export function nativeDecodeBytesPerToken(config: GptOssConfig): { experts: number; attention: number; router: number; lmHead: number; total: number } {
  const { numLayers: L, hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim, numExperts: E, expertsPerToken: k, vocabSize: V } = config;
  const experts = L * k * 3 * H * I * (17 / 32);
  const attention = L * 2 * (2 * numHeads * headDim * H + 2 * numKvHeads * headDim * H);
  const router = L * 2 * E * H;
  const lmHead = 2 * V * H;
  return { experts, attention, router, lmHead, total: experts + attention + router + lmHead };
}
