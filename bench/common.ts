/** Pieces every benchmark shares: the capture modes compared, a fixed prompt, medians. */
import { SeededRandom } from '../lib/runtime/sampler';
import type { CaptureOptions } from '../lib/runtime/types';

export const CAPTURE_MODES: Record<'off' | 'routing' | 'routing+attention', CaptureOptions> = {
  off: { routing: false, attention: false },
  routing: { routing: true, attention: false },
  'routing+attention': { routing: true, attention: true, attentionTopK: 8 },
};

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
