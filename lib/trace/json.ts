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

/** Builds a tensor of the document from a flat array and its shape: nested arrays, or a lazy tensor for streaming. */
export type TensorBuilder<T> = (flat: Uint8Array | Uint16Array | Int32Array | Float32Array, shape: number[]) => T;

/** The run --json document with each tensor built by `tensor`. */
export interface RunJsonOf<T> extends Omit<RunJson, 'routing' | 'attention'> {
  routing: { topK: number; numExperts: number; experts: T; weights: T; logits: T } | null;
  attention: { topK: number; sinkMass: T; top: { positions: T; weights: T } } | null;
}

function routingJson<T>(r: RoutingCapture, tensor: TensorBuilder<T>): RunJsonOf<T>['routing'] {
  const { numTokens: T, numLayers: L, topK: k, numExperts: E } = r;
  return { topK: k, numExperts: E, experts: tensor(r.experts, [T, L, k]), weights: tensor(r.weights, [T, L, k]), logits: tensor(r.logits, [T, L, E]) };
}

function attentionJson<T>(a: AttentionCapture, tensor: TensorBuilder<T>): RunJsonOf<T>['attention'] {
  const { numTokens: T, numLayers: L, numHeads: H, topK: k } = a;
  return { topK: k, sinkMass: tensor(a.sinkMass, [T, L, H]), top: { positions: tensor(a.topPositions, [T, L, H, k]), weights: tensor(a.topWeights, [T, L, H, k]) } };
}

export function runJsonWith<T>(result: RunResult, tensor: TensorBuilder<T>): RunJsonOf<T> {
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
    routing: result.routing ? routingJson(result.routing, tensor) : null,
    attention: result.attention ? attentionJson(result.attention, tensor) : null,
  };
}

export function toRunJson(result: RunResult): RunJson {
  return runJsonWith(result, nest) as RunJson;
}
