/**
 * The graph IO contract the runtime is written against. Names are fixed; shapes use the symbolic
 * dims `sequence` (S, new tokens), `past_sequence` (P) and `total_sequence` (P + S).
 */
import type { TensorSpec } from './onnx';

export const INPUT_IDS = 'input_ids';
export const SEQLENS_K = 'seqlens_k';
export const TOTAL_SEQUENCE_LENGTH = 'total_sequence_length';
export const LOGITS = 'logits';
/** log(sum(exp(logits))) per logits row, [1, rows]: the sampler's log-prob normaliser without a JS exp pass. */
export const LOGITS_LOGSUMEXP = 'logits_logsumexp';

export interface KvCacheIo {
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
}

export interface RoutingIo {
  /** [S, E] raw router logits */
  logits: string;
  /** [S, k] int64 */
  topk: string;
  /** [S, k] */
  weights: string;
}

export interface AttentionIo {
  /** [S, H] */
  sinkMass: string;
  /** [S, H, kk] int64, -1 where the weight is 0 */
  topPositions: string;
  /** [S, H, kk] */
  topWeights: string;
}

export interface GraphIo {
  variant: 'fused' | 'reference';
  /** Fused graphs: onnxruntime contrib kernels, or standard ops only (kernels/model.ts FusedOps). */
  ops: 'contrib' | 'standard';
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** 'last': logits [1, 1, V] for the last new token; 'all': [1, S, V]. */
  logits: 'last' | 'all';
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** Rows of the rotary tables: P + S must not exceed this. */
  maxPositions: number;
  /** Requested kept positions per head; the graph returns min(this, P + S). */
  attentionTopK: number;
  /** Fused only (empty for reference): per layer past/present KV names, [1, n_kv, P|P+S, head_dim]. */
  kvCache: KvCacheIo[];
  /** Per layer, when routing capture is on. */
  routing: RoutingIo[] | null;
  /** Per layer, when attention capture is on. */
  attention: AttentionIo[] | null;
  /** Per layer debug outputs by tap name (attn_probs [H, S, T], attn_out, ffn_inp, ffn_moe_out, l_out [S, hidden]), when on. */
  debugTaps: Record<string, string>[] | null;
}

export function kvCacheIo(layer: number): KvCacheIo {
  return {
    pastKey: `past.${layer}.key`,
    pastValue: `past.${layer}.value`,
    presentKey: `present.${layer}.key`,
    presentValue: `present.${layer}.value`,
  };
}

export function blockName(layer: number): string {
  return `blk.${layer}`;
}
