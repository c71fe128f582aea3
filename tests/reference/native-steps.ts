/**
 * Runs a token sequence through the runtime's native path (per-layer graphs + native kernels) the
 * way generation does: one prefill chunk, then one token per forward pass; the oracle tests compare
 * what each pass returns with an independent implementation.
 */
import assert from 'node:assert/strict';
import { loadNativeKernels, type ExpertInputs, type NativeKernels } from '../../kernels/native';
import type { CaptureSelection } from '../../kernels';
import type { YarnMode } from '../../kernels/yarn';
import type { Checkpoint } from '../../lib/model/checkpoint';
import type { TapReader } from '../../lib/runtime/capture';
import { argmax } from '../../lib/runtime/sampler';
import { LayeredForward, NativeWeights } from '../../lib/runtime/native-forward';

export function requireNative(): NativeKernels {
  const load = loadNativeKernels();
  assert.ok(load.ok, `native kernels unavailable: ${load.ok ? '' : load.reason} (run npm run native:build)`);
  return load.kernels;
}

/** One forward pass: `rows` tokens from position `first`; logits of its last token. */
export interface NativeStep {
  first: number;
  rows: number;
  logits: Float32Array;
  logSumExp: number;
  read: TapReader;
}

export interface NativeStepOptions {
  /** Tokens in the first pass (0 or 1: every pass is a one-token decode step). */
  prefill: number;
  capture: CaptureSelection;
  yarn: YarnMode;
  expertInputs: ExpertInputs;
}

export async function stepNative(checkpoint: Checkpoint, tokens: readonly number[], options: NativeStepOptions): Promise<NativeStep[]> {
  const weights = NativeWeights.open(checkpoint, requireNative());
  const model = await LayeredForward.create(checkpoint, weights, {
    capture: options.capture,
    yarn: options.yarn,
    maxPositions: tokens.length,
    threads: 1,
    expertInputs: options.expertInputs,
  });
  const steps: NativeStep[] = [];
  try {
    let cache = model.emptyCache();
    let position = 0;
    while (position < tokens.length) {
      const rows = position === 0 ? Math.max(1, options.prefill) : 1;
      const result = await model.forward(tokens.slice(position, position + rows), position, cache);
      cache = result.cache;
      const { logSumExp, argmax: best } = result.stats;
      assert.ok(logSumExp !== undefined, 'the native path computes log-sum-exp');
      assert.equal(best, argmax(result.logits), 'the native path computes the greedy pick');
      steps.push({ first: position, rows, logits: result.logits, logSumExp, read: result.read });
      position += rows;
    }
  } finally {
    await model.release();
    weights.close();
  }
  return steps;
}
