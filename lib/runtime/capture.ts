/**
 * Turns per-forward-pass capture taps (graph outputs `blk.{l}.*`) into per-token records
 * in the flat layouts of lib/trace/types.ts. Buffers grow by doubling; rows are appended in
 * position order, one forward pass (a prefill chunk or one decode step) at a time.
 */
import type { AttentionCapture, RoutingCapture } from '../trace/types';

/** A growable typed array of one element type. */
class GrowableArray<T extends Float32Array | Int32Array | Uint8Array | Uint16Array> {
  private buffer: T;
  length = 0;

  constructor(private readonly make: (size: number) => T, initial = 1024) {
    this.buffer = make(initial);
  }

  reserve(extra: number): T {
    const needed = this.length + extra;
    if (needed > this.buffer.length) {
      let size = this.buffer.length * 2;
      while (size < needed) size *= 2;
      const grown = this.make(size);
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    return this.buffer;
  }

  /** A copy trimmed to the filled length. */
  toArray(): T {
    return this.buffer.slice(0, this.length) as T;
  }
}

/** Output tensors of one forward pass, by name, as the runtime read them from onnxruntime. */
export type TapReader = (name: string) => { data: Float32Array | BigInt64Array; dims: readonly number[] };

export const tapNames = {
  routerLogits: (l: number) => `blk.${l}.ffn_moe_logits`,
  routerTopK: (l: number) => `blk.${l}.ffn_moe_topk`,
  routerWeights: (l: number) => `blk.${l}.ffn_moe_weights`,
  sinkMass: (l: number) => `blk.${l}.attn_sink_mass`,
  attentionTopPositions: (l: number) => `blk.${l}.attn_top_pos`,
  attentionTopWeights: (l: number) => `blk.${l}.attn_top_weights`,
} as const;

export class RoutingRecorder {
  private readonly experts: GrowableArray<Uint8Array | Uint16Array>;
  private readonly weights = new GrowableArray((n) => new Float32Array(n));
  private readonly logits = new GrowableArray((n) => new Float32Array(n));
  numTokens = 0;

  constructor(readonly numLayers: number, readonly numExperts: number, readonly topK: number) {
    this.experts = new GrowableArray<Uint8Array | Uint16Array>((n) => (numExperts <= 256 ? new Uint8Array(n) : new Uint16Array(n)));
  }

  /** Appends the rows of one forward pass of `rows` positions. */
  append(read: TapReader, rows: number): void {
    const { numLayers: L, numExperts: E, topK: k } = this;
    const experts = this.experts.reserve(rows * L * k);
    const weights = this.weights.reserve(rows * L * k);
    const logits = this.logits.reserve(rows * L * E);
    const base = this.numTokens;
    for (let l = 0; l < L; l++) {
      const ids = read(tapNames.routerTopK(l)).data as BigInt64Array;
      const w = read(tapNames.routerWeights(l)).data as Float32Array;
      const z = read(tapNames.routerLogits(l)).data as Float32Array;
      for (let s = 0; s < rows; s++) {
        const row = (base + s) * L + l;
        for (let j = 0; j < k; j++) {
          experts[row * k + j] = Number(ids[s * k + j]);
          weights[row * k + j] = w[s * k + j];
        }
        logits.set(z.subarray(s * E, (s + 1) * E), row * E);
      }
    }
    this.numTokens += rows;
    this.experts.length = this.weights.length = this.numTokens * L * k;
    this.logits.length = this.numTokens * L * E;
  }

  /** [L, k] experts and weights of one token, for streaming events. */
  tokenRouting(t: number): { experts: number[][]; weights: number[][] } {
    const { numLayers: L, topK: k } = this;
    const experts = this.experts.reserve(0);
    const weights = this.weights.reserve(0);
    const rows = Array.from({ length: L }, (_, l) => (t * L + l) * k);
    return {
      experts: rows.map((r) => Array.from(experts.subarray(r, r + k))),
      weights: rows.map((r) => Array.from(weights.subarray(r, r + k))),
    };
  }

  finish(): RoutingCapture {
    return {
      numTokens: this.numTokens,
      numLayers: this.numLayers,
      numExperts: this.numExperts,
      topK: this.topK,
      experts: this.experts.toArray(),
      weights: this.weights.toArray(),
      logits: this.logits.toArray(),
    };
  }
}

export class AttentionRecorder {
  private readonly sinkMass = new GrowableArray((n) => new Float32Array(n));
  private readonly topPositions = new GrowableArray((n) => new Int32Array(n));
  private readonly topWeights = new GrowableArray((n) => new Float32Array(n));
  numTokens = 0;

  constructor(readonly numLayers: number, readonly numHeads: number, readonly topK: number) {}

  /**
   * Appends one forward pass. The graph keeps min(topK, visible keys) positions per head;
   * missing slots are padded with position -1 and weight 0.
   */
  append(read: TapReader, rows: number): void {
    const { numLayers: L, numHeads: H, topK: k } = this;
    const sink = this.sinkMass.reserve(rows * L * H);
    const positions = this.topPositions.reserve(rows * L * H * k);
    const weights = this.topWeights.reserve(rows * L * H * k);
    const base = this.numTokens;
    for (let l = 0; l < L; l++) {
      const mass = read(tapNames.sinkMass(l)).data as Float32Array;
      const pos = read(tapNames.attentionTopPositions(l));
      const w = read(tapNames.attentionTopWeights(l)).data as Float32Array;
      const kept = pos.dims[pos.dims.length - 1];
      const posData = pos.data as BigInt64Array;
      for (let s = 0; s < rows; s++) {
        for (let h = 0; h < H; h++) {
          const out = ((base + s) * L + l) * H + h;
          const src = s * H + h;
          sink[out] = mass[src];
          for (let j = 0; j < k; j++) {
            // Keys outside the causal/sliding window come back from TopK with probability 0.
            const visible = j < kept && w[src * kept + j] > 0;
            positions[out * k + j] = visible ? Number(posData[src * kept + j]) : -1;
            weights[out * k + j] = visible ? w[src * kept + j] : 0;
          }
        }
      }
    }
    this.numTokens += rows;
    this.sinkMass.length = this.numTokens * L * H;
    this.topPositions.length = this.topWeights.length = this.numTokens * L * H * k;
  }

  finish(): AttentionCapture {
    return {
      numTokens: this.numTokens,
      numLayers: this.numLayers,
      numHeads: this.numHeads,
      topK: this.topK,
      sinkMass: this.sinkMass.toArray(),
      topPositions: this.topPositions.toArray(),
      topWeights: this.topWeights.toArray(),
    };
  }
}

/** Bytes a capture costs per token in memory and in `run --json` before compression (README figure). */
export function captureBytesPerToken(shape: { numLayers: number; numExperts: number; expertsPerToken: number; numHeads: number }, attentionTopK = 8) {
  const { numLayers: L, numExperts: E, expertsPerToken: k, numHeads: H } = shape;
  const routing = L * k * (E <= 256 ? 1 : 2) + L * k * 4 + L * E * 4;
  const attention = L * H * 4 + L * H * attentionTopK * (4 + 4);
  return { routing, attention };
}
