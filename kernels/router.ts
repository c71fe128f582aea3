/**
 * MoE router (spec §4.5): raw logits z = x W_r^T + b_r, the top-k logits, and a softmax over
 * only those k values (no renormalization over all experts).
 */
import { linear } from './layers';
import type { GraphBuilder, Namer } from './onnx';

export interface RouterWeights {
  weight: string;
  bias: string;
}

export interface RouterOutputs {
  /** [S, E] raw router logits. */
  logits: string;
  /** [S, k] int64 expert ids, descending logit. */
  topk: string;
  /** [S, k] softmax over the k selected logits. */
  weights: string;
}

export function routerLogits(g: GraphBuilder, x: string, weights: RouterWeights, name: Namer): string {
  return linear(g, x, weights.weight, weights.bias, name('ffn_moe_logits'));
}

/** Top-k expert ids and their weights from raw logits [S, E]. */
export function routerSelection(g: GraphBuilder, logits: string, k: number, name: Namer): Omit<RouterOutputs, 'logits'> {
  const [topLogits, topk] = g.node('TopK', [logits, g.constInt64([k])], [name('ffn_moe_topk_logits'), name('ffn_moe_topk')], {
    axis: -1,
    largest: 1,
    sorted: 1,
  });
  const weights = g.op('Softmax', [topLogits], name('ffn_moe_weights'), { axis: -1 });
  return { topk, weights };
}

export function router(g: GraphBuilder, x: string, weights: RouterWeights, k: number, name: Namer): RouterOutputs {
  const logits = routerLogits(g, x, weights, name);
  return { logits, ...routerSelection(g, logits, k, name) };
}
