/**
 * A heatmap that grows while a live run streams tokens: fixed-capacity buffers, and a HeatmapData
 * view over the filled prefix. Entropy is not streamed (it needs all router logits), so it stays 0.
 */
import type { HeatmapData } from './heatmap-payload';
import { quantiseUnit } from './heatmap-payload';

export class LiveHeatmap {
  private filled = 0;
  private readonly experts: Uint16Array;
  private readonly weights: Uint8Array;
  private readonly entropy: Uint8Array;

  constructor(
    readonly capacity: number,
    readonly numLayers: number,
    readonly numExperts: number,
    readonly topK: number,
  ) {
    this.experts = new Uint16Array(capacity * numLayers * topK);
    this.weights = new Uint8Array(capacity * numLayers * topK);
    this.entropy = new Uint8Array(capacity * numLayers);
  }

  get length(): number {
    return this.filled;
  }

  /** Appends one token's routing: [L][k] expert ids and weights. */
  push(experts: number[][], weights: number[][]): void {
    if (this.filled >= this.capacity) throw new Error(`live heatmap is full (${this.capacity} tokens)`);
    if (experts.length !== this.numLayers) throw new Error(`token routing has ${experts.length} layers, expected ${this.numLayers}`);
    const base = this.filled * this.numLayers * this.topK;
    experts.forEach((layerExperts, layer) => {
      layerExperts.slice(0, this.topK).forEach((expert, slot) => {
        this.experts[base + layer * this.topK + slot] = expert;
        this.weights[base + layer * this.topK + slot] = quantiseUnit(weights[layer]?.[slot] ?? 0);
      });
    });
    this.filled += 1;
  }

  view(): HeatmapData {
    const cells = this.filled * this.numLayers * this.topK;
    return {
      numTokens: this.filled,
      numLayers: this.numLayers,
      numExperts: this.numExperts,
      topK: this.topK,
      experts: this.experts.subarray(0, cells),
      weights: this.weights.subarray(0, cells),
      entropy: this.entropy.subarray(0, this.filled * this.numLayers),
    };
  }
}
