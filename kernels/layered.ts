/**
 * One ONNX graph per decoder layer, for the native MXFP4 path (ARCHITECTURE.md, "Native
 * experts"): the graph runs only what onnxruntime does that the native kernels do not, rotary
 * and GroupQueryAttention with sinks, window and KV cache, and the attention capture taps. The
 * bf16 projections around it (q/k/v in, o out), the norms, the router and the experts run in
 * the native kernels on the checkpoint's bytes (lib/runtime/native-forward.ts).
 *
 * Inputs: the projected `blk.{l}.attn_q` [S, heads*d], `blk.{l}.attn_k` and `blk.{l}.attn_v`
 * [S, kvHeads*d] (the names the fused graph gives them), the layer's past KV, seqlens_k and
 * total_sequence_length. Outputs: the attention context `blk.{l}.attn_context` [S, heads*d]
 * (the output projection's input), present KV and, when asked, the attention taps, under the
 * same names as the model graph.
 */
import type { GptOssConfig } from '../lib/model/config';
import { tensorNames, type WeightSource } from '../lib/model/weights';
import { attentionCaptures, fusedAttentionCore, type AttentionShape } from './attention';
import { blockName, kvCacheIo, SEQLENS_K, TOTAL_SEQUENCE_LENGTH, type AttentionIo, type KvCacheIo } from './io';
import { checkOptions, DEFAULT_ATTENTION_TOP_K, ropeInitializers } from './model';
import { GraphBuilder, scope, type BuiltModel } from './onnx';
import { denseTensor } from './weights';
import type { YarnMode } from './yarn';

export interface LayerGraphOptions {
  /** Attention capture taps. */
  attention: boolean;
  attentionTopK?: number;
  yarn: YarnMode;
  maxPositions: number;
}

export interface LayerGraphIo {
  layer: number;
  kv: KvCacheIo;
  /** Inputs: [S, heads*d] queries, [S, kvHeads*d] keys and values, before rotary. */
  q: string;
  k: string;
  v: string;
  /** [S, heads*d] attention output before the output projection. */
  context: string;
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
  const qWidth = config.numHeads * config.headDim;
  const kvWidth = config.numKvHeads * config.headDim;
  const name = scope(blockName(layer));
  const g = new GraphBuilder(`gpt-oss-layer-${layer}`);
  const kv = kvCacheIo(layer);
  const qkv = {
    q: g.input(name('attn_q'), 'float32', ['sequence', qWidth]),
    k: g.input(name('attn_k'), 'float32', ['sequence', kvWidth]),
    v: g.input(name('attn_v'), 'float32', ['sequence', kvWidth]),
  };
  g.input(kv.pastKey, 'float32', [1, config.numKvHeads, 'past_sequence', config.headDim]);
  g.input(kv.pastValue, 'float32', [1, config.numKvHeads, 'past_sequence', config.headDim]);
  g.input(SEQLENS_K, 'int32', [1]);
  g.input(TOTAL_SEQUENCE_LENGTH, 'int32', []);

  const rope = ropeInitializers(g, config, options.maxPositions, options.yarn);
  const sinks = g.initializer(name('attn_sinks.weight'), denseTensor(source, tensorNames.layer(layer).sinks, [config.numHeads]), [config.numHeads]);
  const shape: AttentionShape = {
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    window: config.layerTypes[layer] === 'sliding_attention' ? config.slidingWindow : null,
  };
  const cache = { ...kv, seqlensK: SEQLENS_K, totalSequenceLength: TOTAL_SEQUENCE_LENGTH };
  const { context, probs } = fusedAttentionCore(g, qkv, sinks, shape, rope, cache, options.attention, name);
  const attention = options.attention && probs ? attentionCaptures(g, probs, attentionTopK, name) : null;

  g.output(context, 'float32', ['sequence', qWidth]);
  g.output(kv.presentKey, 'float32', [1, config.numKvHeads, 'total_sequence', config.headDim]);
  g.output(kv.presentValue, 'float32', [1, config.numKvHeads, 'total_sequence', config.headDim]);
  if (attention) {
    g.output(attention.sinkMass, 'float32', ['sequence', config.numHeads]);
    g.output(attention.topPositions, 'int64', ['sequence', config.numHeads, 'attention_top_k']);
    g.output(attention.topWeights, 'float32', ['sequence', config.numHeads, 'attention_top_k']);
  }
  const built = g.build();
  return {
    ...built,
    io: { layer, kv, ...qkv, context, attention, outputs: g.io.outputs.map((o) => o.name) },
  };
}
