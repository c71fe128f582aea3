/**
 * Decode-step attention on the native path (ARCHITECTURE.md, "Native attention"): the KV cache
 * the kernel appends to in place, and the attention capture taps computed from its probabilities
 * with the same meaning as the layer graph's (kernels/attention.ts, attentionCaptures).
 */
import * as ort from 'onnxruntime-node';

/**
 * Keys (rotated) and values of every layer as [kvHeads, capacity, headDim] rows. Capacity grows by
 * doubling, so a decode step writes one row in place instead of copying the whole cache.
 */
export class NativeKvCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  capacity: number;

  constructor(readonly layers: number, readonly kvHeads: number, readonly headDim: number, capacity = 64) {
    this.capacity = capacity;
    this.keys = Array.from({ length: layers }, () => new Float32Array(kvHeads * capacity * headDim));
    this.values = Array.from({ length: layers }, () => new Float32Array(kvHeads * capacity * headDim));
  }

  /** Room for positions 0..total-1, keeping rows 0..kept-1 of every head. */
  reserve(total: number, kept: number): void {
    if (total <= this.capacity) return;
    let capacity = this.capacity;
    while (capacity < total) capacity *= 2;
    const grow = (old: Float32Array) => {
      const grown = new Float32Array(this.kvHeads * capacity * this.headDim);
      this.copyHeadRows(old, this.capacity, grown, capacity, 0, kept);
      return grown;
    };
    for (let l = 0; l < this.layers; l++) {
      this.keys[l] = grow(this.keys[l]);
      this.values[l] = grow(this.values[l]);
    }
    this.capacity = capacity;
  }

  /** Rows 0..length-1 of layer l as onnxruntime's past tensors [1, kvHeads, length, headDim] (copies). */
  pastTensors(layer: number, length: number): { key: ort.Tensor; value: ort.Tensor } {
    const packed = (rows: Float32Array) => {
      const out = new Float32Array(this.kvHeads * length * this.headDim);
      this.copyHeadRows(rows, this.capacity, out, length, 0, length);
      return new ort.Tensor('float32', out, [1, this.kvHeads, length, this.headDim]);
    };
    return { key: packed(this.keys[layer]), value: packed(this.values[layer]) };
  }

  /** Rows from..total-1 of onnxruntime's present tensors [1, kvHeads, total, headDim] into layer l. */
  storePresent(layer: number, presentKey: Float32Array, presentValue: Float32Array, from: number, total: number): void {
    this.copyHeadRows(presentKey, total, this.keys[layer], this.capacity, from, total);
    this.copyHeadRows(presentValue, total, this.values[layer], this.capacity, from, total);
  }

  /** Rows first..end-1 of every head from a [kvHeads, sourceRows, d] layout into a [kvHeads, targetRows, d] one. */
  private copyHeadRows(source: Float32Array, sourceRows: number, target: Float32Array, targetRows: number, first: number, end: number): void {
    const d = this.headDim;
    for (let h = 0; h < this.kvHeads; h++) target.set(source.subarray((h * sourceRows + first) * d, (h * sourceRows + end) * d), (h * targetRows + first) * d);
  }
}

/** The attention taps of one query token, shaped as the layer graph outputs them for S = 1. */
export interface AttentionTaps {
  /** [1, heads]: 1 - the probability over real keys. */
  sinkMass: Float32Array;
  /** [1, heads, kk] key positions by descending probability (equal: the lower position first), -1 where it is 0. */
  topPositions: BigInt64Array;
  /** [1, heads, kk] */
  topWeights: Float32Array;
  /** min(topK, keys) */
  kept: number;
}

/** Taps from probabilities [heads, keys] over real keys (sink dropped). */
export function attentionTapsOf(probs: Float32Array, heads: number, keys: number, topK: number): AttentionTaps {
  const kept = Math.min(topK, keys);
  const sinkMass = new Float32Array(heads);
  const topPositions = new BigInt64Array(heads * kept);
  const topWeights = new Float32Array(heads * kept);
  const best = new Int32Array(kept);
  for (let h = 0; h < heads; h++) {
    const row = probs.subarray(h * keys, (h + 1) * keys);
    let mass = 0;
    let filled = 0;
    for (let j = 0; j < keys; j++) {
      mass += row[j];
      // Keep the `kept` largest so far in order; a key enters or moves up only past strictly smaller
      // ones, so among equal probabilities the earlier (lower) position stays first.
      if (filled < kept || row[j] > row[best[filled - 1]]) {
        let at = filled < kept ? filled++ : kept - 1;
        while (at > 0 && row[j] > row[best[at - 1]]) {
          best[at] = best[at - 1];
          at--;
        }
        best[at] = j;
      }
    }
    sinkMass[h] = 1 - mass;
    for (let i = 0; i < kept; i++) {
      const weight = row[best[i]];
      topPositions[h * kept + i] = weight > 0 ? BigInt(best[i]) : -1n;
      topWeights[h * kept + i] = weight;
    }
  }
  return { sinkMass, topPositions, topWeights, kept };
}
