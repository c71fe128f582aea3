/**
 * The `run --json` / `traces get --json` document: nested arrays that other tools consume.
 * Documented in the README ("JSON output"). Typed arrays become [token][layer][...] arrays.
 */
import type { AttentionCapture, RoutingCapture, RunResult, TraceMessage } from './types';

export interface RunJson {
  model: RunResult['model'];
  tokens: number[];
  promptLength: number;
  messages: TraceMessage[];
  logprobs: number[];
  sampling: RunResult['sampling'];
  stopReason: RunResult['stopReason'];
  timings: RunResult['timings'];
  device?: string;
  routing: { topK: number; numExperts: number; experts: number[][][]; weights: number[][][]; logits: number[][][] } | null;
  attention: { topK: number; sinkMass: number[][][]; top: { positions: number[][][][]; weights: number[][][][] } } | null;
}

/** Splits a flat row-major array into nested arrays of the given shape. */
export function nest(flat: ArrayLike<number>, shape: readonly number[]): unknown[] {
  const build = (offset: number, axis: number): unknown[] => {
    const size = shape[axis];
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: size }, (_, i) =>
      axis === shape.length - 1 ? flat[offset + i] : build(offset + i * stride, axis + 1),
    );
  };
  return build(0, 0);
}

function routingJson(r: RoutingCapture): RunJson['routing'] {
  const { numTokens: T, numLayers: L, topK: k, numExperts: E } = r;
  return {
    topK: k,
    numExperts: E,
    experts: nest(r.experts, [T, L, k]) as number[][][],
    weights: nest(r.weights, [T, L, k]) as number[][][],
    logits: nest(r.logits, [T, L, E]) as number[][][],
  };
}

function attentionJson(a: AttentionCapture): RunJson['attention'] {
  const { numTokens: T, numLayers: L, numHeads: H, topK: k } = a;
  return {
    topK: k,
    sinkMass: nest(a.sinkMass, [T, L, H]) as number[][][],
    top: {
      positions: nest(a.topPositions, [T, L, H, k]) as number[][][][],
      weights: nest(a.topWeights, [T, L, H, k]) as number[][][][],
    },
  };
}

export function toRunJson(result: RunResult): RunJson {
  return {
    model: result.model,
    tokens: result.tokens,
    promptLength: result.promptLength,
    messages: result.messages,
    logprobs: result.logprobs,
    sampling: result.sampling,
    stopReason: result.stopReason,
    timings: result.timings,
    ...(result.device ? { device: result.device } : {}),
    routing: result.routing ? routingJson(result.routing) : null,
    attention: result.attention ? attentionJson(result.attention) : null,
  };
}
