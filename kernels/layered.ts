/**
 * One ONNX graph per decoder layer, for the native MXFP4 expert path (ARCHITECTURE.md, "Native
 * experts"): the graph runs attention and the router (the same blocks as the fused model graph),
 * the experts run in the native kernel between layer graphs, and embedding, final norm and
 * lm_head run natively on the bf16 checkpoint bytes.
 *
 * Inputs: `hidden` [S, H] (the residual stream entering the layer), the layer's past KV,
 * seqlens_k and total_sequence_length. Outputs: the post-attention residual `blk.{l}.ffn_inp`,
 * the MoE input `blk.{l}.post_attention_norm`, the routing taps (raw logits, top-k ids, weights),
 * present KV and, when asked, the attention taps, under the same names as the model graph.
 */
import type { GptOssConfig } from '../lib/model/config';
import type { WeightSource } from '../lib/model/weights';
import { attentionCaptures } from './attention';
import { blockName, kvCacheIo, SEQLENS_K, TOTAL_SEQUENCE_LENGTH, type AttentionIo, type KvCacheIo, type RoutingIo } from './io';
import { attentionAndRouter, checkOptions, DEFAULT_ATTENTION_TOP_K, ropeInitializers } from './model';
import { GraphBuilder, scope, type BuiltModel } from './onnx';
import { routerSelection } from './router';
import type { YarnMode } from './yarn';

export const LAYER_HIDDEN_INPUT = 'hidden';

export interface LayerGraphOptions {
  /** Attention capture taps (routing taps are always there: the experts need the selection). */
  attention: boolean;
  attentionTopK?: number;
  yarn: YarnMode;
  maxPositions: number;
}

export interface LayerGraphIo {
  layer: number;
  kv: KvCacheIo;
  /** [S, H] residual after attention. */
  ffnInput: string;
  /** [S, H] normalized MoE input. */
  ffnNorm: string;
  routing: RoutingIo;
  attention: AttentionIo | null;
  outputs: string[];
}

export interface BuiltLayerGraph extends BuiltModel {
  io: LayerGraphIo;
}

export function buildLayerGraph(source: WeightSource, layer: number, options: LayerGraphOptions): BuiltLayerGraph {
  const config: GptOssConfig = source.config;
  const attentionTopK = options.attentionTopK ?? DEFAULT_ATTENTION_TOP_K;
  checkOptions(config, {
    variant: 'fused',
    capture: { routing: true, attention: options.attention, attentionTopK },
    logits: 'last',
    yarn: options.yarn,
    experts: 'float',
    maxPositions: options.maxPositions,
  });
  const H = config.hiddenSize;
  const g = new GraphBuilder(`gpt-oss-layer-${layer}`);
  const kv = kvCacheIo(layer);
  const hidden = g.input(LAYER_HIDDEN_INPUT, 'float32', ['sequence', H]);
  g.input(kv.pastKey, 'float32', [1, config.numKvHeads, 'past_sequence', config.headDim]);
  g.input(kv.pastValue, 'float32', [1, config.numKvHeads, 'past_sequence', config.headDim]);
  g.input(SEQLENS_K, 'int32', [1]);
  g.input(TOTAL_SEQUENCE_LENGTH, 'int32', []);

  const rope = ropeInitializers(g, config, options.maxPositions, options.yarn);
  const front = attentionAndRouter(g, source, layer, hidden, {
    variant: 'fused',
    rope,
    cache: { ...kv, seqlensK: SEQLENS_K, totalSequenceLength: TOTAL_SEQUENCE_LENGTH },
    wantProbs: options.attention,
  });
  const name = scope(blockName(layer));
  const routing: RoutingIo = { logits: front.logits, ...routerSelection(g, front.logits, config.expertsPerToken, name) };
  const attention = options.attention && front.attn.probs ? attentionCaptures(g, front.attn.probs, attentionTopK, name) : null;

  g.output(front.ffnInput, 'float32', ['sequence', H]);
  g.output(front.ffnIn, 'float32', ['sequence', H]);
  g.output(kv.presentKey, 'float32', [1, config.numKvHeads, 'total_sequence', config.headDim]);
  g.output(kv.presentValue, 'float32', [1, config.numKvHeads, 'total_sequence', config.headDim]);
  g.output(routing.logits, 'float32', ['sequence', config.numExperts]);
  g.output(routing.topk, 'int64', ['sequence', config.expertsPerToken]);
  g.output(routing.weights, 'float32', ['sequence', config.expertsPerToken]);
  if (attention) {
    g.output(attention.sinkMass, 'float32', ['sequence', config.numHeads]);
    g.output(attention.topPositions, 'int64', ['sequence', config.numHeads, 'attention_top_k']);
    g.output(attention.topWeights, 'float32', ['sequence', config.numHeads, 'attention_top_k']);
  }
  const built = g.build();
  return {
    ...built,
    io: { layer, kv, ffnInput: front.ffnInput, ffnNorm: front.ffnIn, routing, attention, outputs: g.io.outputs.map((o) => o.name) },
  };
}
