/**
 * What makes two batch captures the same capture: the rendered prompt (token ids, so a changed
 * system line or effort changes it too), the sampling settings, the effort and sample index, and
 * what is recorded. Its hash is stored on the trace (traces.capture_key) and is what `cotscope
 * capture` resumes on; a prompt id reused for another prompt or other settings is captured anew.
 */
import { createHash } from 'node:crypto';
import type { SamplingParams } from './types';

export interface RecordedSections {
  routing: boolean;
  attention: boolean;
  /** Attended positions kept per head; null when attention is not recorded. */
  attentionTopK: number | null;
  routerLogits: boolean;
}

export interface CaptureKeyInput {
  promptIds: readonly number[];
  /** The sampling of this very sample (its own seed). */
  sampling: SamplingParams;
  effort: string | null;
  sampleIndex: number;
  recorded: RecordedSections;
}

/** Bumped if the hashed fields change, so old keys never match new ones by accident. */
const CAPTURE_KEY_VERSION = 1;

export function captureKeyHash({ promptIds, sampling, effort, sampleIndex, recorded }: CaptureKeyInput): string {
  const canonical = JSON.stringify([
    CAPTURE_KEY_VERSION,
    promptIds,
    [sampling.temperature, sampling.topP, sampling.seed, sampling.maxNewTokens],
    effort,
    sampleIndex,
    [recorded.routing, recorded.attention, recorded.attention ? recorded.attentionTopK : null, recorded.routing && recorded.routerLogits],
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
