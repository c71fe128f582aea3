/**
 * The whole gpt-oss forward pass as one ONNX graph (spec §4): embedding -> layers -> final norm ->
 * lm_head, assembled from the same blocks for the fused (ORT contrib ops, KV cache) and the
 * reference (standard ops, whole sequence) variants.
 */
import type { GptOssConfig } from '../lib/model/config';
import { tensorNames, type WeightSource } from '../lib/model/weights';
import {
  attentionCaptures,
  cachedStandardAttention,
  fusedAttention,
  referenceAttention,
  type AttentionResult,
  type AttentionShape,
  type AttentionWeights,
  type KvCacheNames,
  type RopeInitializers,
} from './attention';
import { denseExpertWeights, denseExperts, fusedExperts, type ExpertShape, type ExpertWeights } from './experts';
import {
  INPUT_IDS,
  LOGITS,
  LOGITS_LOGSUMEXP,
  SEQLENS_K,
  TOTAL_SEQUENCE_LENGTH,
  blockName,
  kvCacheIo,
  type AttentionIo,
  type GraphIo,
  type RoutingIo,
} from './io';
import { matMulIn, rmsNorm, type GraphVariant, type Precision } from './layers';
import { GraphBuilder, scope, type BuiltModel, type Namer } from './onnx';
import { routerLogits, routerSelection } from './router';
import { denseTensor, expertsFloat, expertsInt8 } from './weights';
import { yarnRopeTables, type YarnMode } from './yarn';

export const DEFAULT_ATTENTION_TOP_K = 8;

export interface CaptureSelection {
  routing: boolean;
  attention: boolean;
  /** Attended positions kept per head (default 8). */
  attentionTopK?: number;
}

/**
 * The kernels of the fused graph: 'contrib' uses onnxruntime's GroupQueryAttention and MoE/QMoE;
 * 'standard' builds attention (KV cache, sinks, window) and dense experts from standard ops, for
 * providers whose contrib kernels compute something else for gpt-oss (WebGPU, docs/webgpu-kernels.md).
 */
export type FusedOps = 'contrib' | 'standard';

export interface GraphOptions {
  variant: GraphVariant;
  /** Fused only (default 'contrib'). */
  ops?: FusedOps;
  /** 'standard' ops only (default fp32): fp16 weights and arithmetic for the experts' and lm_head's matmuls. */
  precision?: Precision;
  capture: CaptureSelection;
  logits: 'last' | 'all';
  yarn: YarnMode;
  /** Fused only; the reference always computes experts in fp32. */
  experts: 'float' | 'int8';
  maxPositions: number;
  /** Also output per-layer attention probabilities [H, S, T] and block hidden states. */
  debugTaps?: boolean;
}

export interface BuiltGraph extends BuiltModel {
  io: GraphIo;
}

const SEQ = 'sequence';
const PAST = 'past_sequence';
const TOTAL = 'total_sequence';

function attentionWeights(g: GraphBuilder, source: WeightSource, layer: number, name: Namer): AttentionWeights {
  const c = source.config;
  const t = tensorNames.layer(layer);
  const qOut = c.numHeads * c.headDim;
  const kvOut = c.numKvHeads * c.headDim;
  const add = (suffix: string, tensor: string, dims: number[]) => g.initializer(name(suffix), denseTensor(source, tensor, dims), dims);
  return {
    q: add('attn_q.weight', t.qWeight, [qOut, c.hiddenSize]),
    qBias: add('attn_q.bias', t.qBias, [qOut]),
    k: add('attn_k.weight', t.kWeight, [kvOut, c.hiddenSize]),
    kBias: add('attn_k.bias', t.kBias, [kvOut]),
    v: add('attn_v.weight', t.vWeight, [kvOut, c.hiddenSize]),
    vBias: add('attn_v.bias', t.vBias, [kvOut]),
    o: add('attn_output.weight', t.oWeight, [c.hiddenSize, qOut]),
    oBias: add('attn_output.bias', t.oBias, [c.hiddenSize]),
    sinks: add('attn_sinks.weight', t.sinks, [c.numHeads]),
  };
}

function expertWeights(g: GraphBuilder, source: WeightSource, layer: number, kind: 'float' | 'int8', name: Namer): ExpertWeights {
  const c = source.config;
  const t = tensorNames.layer(layer);
  const gateUpBias = g.initializer(name('ffn_gate_up_exps.bias'), denseTensor(source, t.gateUpBias, [c.numExperts, 2 * c.intermediateSize]), [
    c.numExperts,
    2 * c.intermediateSize,
  ]);
  const downBias = g.initializer(name('ffn_down_exps.bias'), denseTensor(source, t.downBias, [c.numExperts, c.hiddenSize]), [c.numExperts, c.hiddenSize]);
  if (kind === 'float') {
    const gateUp = expertsFloat(source, layer, 'gate_up');
    const down = expertsFloat(source, layer, 'down');
    return {
      kind,
      gateUp: g.initializer(name('ffn_gate_up_exps.weight'), gateUp.weights, gateUp.dims),
      gateUpBias,
      down: g.initializer(name('ffn_down_exps.weight'), down.weights, down.dims),
      downBias,
    };
  }
  const gateUp = expertsInt8(source, layer, 'gate_up');
  const down = expertsInt8(source, layer, 'down');
  return {
    kind,
    gateUp: g.initializer(name('ffn_gate_up_exps.weight'), gateUp.weights, gateUp.dims),
    gateUpScales: g.initializer(name('ffn_gate_up_exps.scales'), gateUp.scales, gateUp.scaleDims),
    gateUpBias,
    down: g.initializer(name('ffn_down_exps.weight'), down.weights, down.dims),
    downScales: g.initializer(name('ffn_down_exps.scales'), down.scales, down.scaleDims),
    downBias,
  };
}

export function checkOptions(config: GptOssConfig, options: GraphOptions): void {
  if (!Number.isInteger(options.maxPositions) || options.maxPositions <= 0) {
    throw new Error(`maxPositions must be a positive integer (got ${options.maxPositions})`);
  }
  const topK = options.capture.attentionTopK ?? DEFAULT_ATTENTION_TOP_K;
  if (!Number.isInteger(topK) || topK <= 0) throw new Error(`capture.attentionTopK must be a positive integer (got ${topK})`);
  if (options.variant === 'fused' && (options.ops ?? 'contrib') === 'contrib' && config.headDim % 16 !== 0) {
    throw new Error(`the fused graph needs head_dim to be a multiple of 16 (GroupQueryAttention on CPU); got ${config.headDim}`);
  }
}

/** The YaRN cos/sin tables as initializers `rope_cos` / `rope_sin`. */
export function ropeInitializers(g: GraphBuilder, config: GptOssConfig, maxPositions: number, yarn: YarnMode): RopeInitializers {
  const tables = yarnRopeTables(config, maxPositions, yarn);
  return {
    cos: g.initializer('rope_cos', tables.cos, [tables.maxPositions, tables.pairs]),
    sin: g.initializer('rope_sin', tables.sin, [tables.maxPositions, tables.pairs]),
  };
}

export interface LayerFront {
  attn: AttentionResult;
  /** [S, H] residual stream after attention (the MoE's residual). */
  ffnInput: string;
  /** [S, H] post-attention RMSNorm: the router's and experts' input. */
  ffnIn: string;
  /** [S, E] raw router logits. */
  logits: string;
}

/**
 * One decoder layer up to the router (spec §4.2-4.5): attention norm, attention, residual add,
 * post-attention norm, router logits. The experts are added by the caller.
 */
export function attentionAndRouter(
  g: GraphBuilder,
  source: WeightSource,
  layer: number,
  x: string,
  options: { variant: GraphVariant; ops?: FusedOps; rope: RopeInitializers; cache: KvCacheNames; wantProbs: boolean },
): LayerFront {
  const config = source.config;
  const H = config.hiddenSize;
  const name = scope(blockName(layer));
  const t = tensorNames.layer(layer);
  const attnNormWeight = g.initializer(name('attn_norm.weight'), denseTensor(source, t.inputNorm, [H]), [H]);
  const attnIn = rmsNorm(g, x, attnNormWeight, config.rmsNormEps, name('attn_norm'), options.variant);
  const shape: AttentionShape = {
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    window: config.layerTypes[layer] === 'sliding_attention' ? config.slidingWindow : null,
  };
  const aw = attentionWeights(g, source, layer, name);
  const attn =
    options.variant === 'reference'
      ? referenceAttention(g, attnIn, aw, shape, options.rope, name)
      : options.ops === 'standard'
        ? cachedStandardAttention(g, attnIn, aw, shape, options.rope, options.cache, name)
        : fusedAttention(g, attnIn, aw, shape, options.rope, options.cache, options.wantProbs, name);
  const ffnInput = g.op('Add', [x, attn.out], name('ffn_inp'));
  const ffnNormWeight = g.initializer(name('post_attention_norm.weight'), denseTensor(source, t.postAttnNorm, [H]), [H]);
  const ffnIn = rmsNorm(g, ffnInput, ffnNormWeight, config.rmsNormEps, name('post_attention_norm'), options.variant);
  const routerWeights = {
    weight: g.initializer(name('ffn_gate_inp.weight'), denseTensor(source, t.routerWeight, [config.numExperts, H]), [config.numExperts, H]),
    bias: g.initializer(name('ffn_gate_inp.bias'), denseTensor(source, t.routerBias, [config.numExperts]), [config.numExperts]),
  };
  return { attn, ffnInput, ffnIn, logits: routerLogits(g, ffnIn, routerWeights, name) };
}

export function buildGptOssGraph(source: WeightSource, options: GraphOptions): BuiltGraph {
  const config = source.config;
  checkOptions(config, options);
  const fused = options.variant === 'fused';
  const contribKernels = fused && (options.ops ?? 'contrib') === 'contrib';
  const precision = options.precision ?? 'fp32';
  if (precision !== 'fp32' && (options.variant !== 'fused' || contribKernels)) throw new Error(`precision ${precision} needs the fused graph of standard ops (ops: 'standard')`);
  const attentionTopK = options.capture.attentionTopK ?? DEFAULT_ATTENTION_TOP_K;
  const wantProbs = options.capture.attention || options.debugTaps === true;
  const g = new GraphBuilder(`gpt-oss-${options.variant}`);
  const H = config.hiddenSize;

  const inputIds = g.input(INPUT_IDS, 'int64', [1, SEQ]);
  if (fused) {
    for (let l = 0; l < config.numLayers; l++) {
      const kv = kvCacheIo(l);
      g.input(kv.pastKey, 'float32', [1, config.numKvHeads, PAST, config.headDim]);
      g.input(kv.pastValue, 'float32', [1, config.numKvHeads, PAST, config.headDim]);
    }
    g.input(SEQLENS_K, 'int32', [1]);
    g.input(TOTAL_SEQUENCE_LENGTH, 'int32', []);
  }

  const rope = ropeInitializers(g, config, options.maxPositions, options.yarn);

  const embedding = g.initializer('token_embd.weight', denseTensor(source, tensorNames.embed, [config.vocabSize, H]), [config.vocabSize, H]);
  const flatIds = g.op('Reshape', [inputIds, g.constInt64([-1])], 'input_ids.flat');
  let x = g.op('Gather', [embedding, flatIds], 'token_embd', { axis: 0 });

  const routing: RoutingIo[] = [];
  const attention: AttentionIo[] = [];
  const taps: Record<string, string>[] = [];
  const expertShape: ExpertShape = { numExperts: config.numExperts, k: config.expertsPerToken, swigluLimit: config.swigluLimit };

  for (let l = 0; l < config.numLayers; l++) {
    const name = scope(blockName(l));
    const kv = kvCacheIo(l);
    const { attn, ffnInput, ffnIn, logits } = attentionAndRouter(g, source, l, x, {
      variant: options.variant,
      ops: options.ops,
      rope,
      cache: { ...kv, seqlensK: SEQLENS_K, totalSequenceLength: TOTAL_SEQUENCE_LENGTH },
      wantProbs,
    });
    const needSelection = !contribKernels || options.capture.routing;
    const selection = needSelection ? routerSelection(g, logits, config.expertsPerToken, name) : null;
    const experts = expertWeights(g, source, l, fused ? options.experts : 'float', name);
    const moeOut = contribKernels
      ? fusedExperts(g, ffnIn, logits, experts, expertShape, name)
      : denseExperts(g, ffnIn, { logits, ...selection! }, denseExpertWeights(g, experts, name), expertShape, name, precision);
    x = g.op('Add', [ffnInput, moeOut], name('l_out'));

    if (options.capture.routing && selection) routing.push({ logits, ...selection });
    if (options.capture.attention && attn.probs) attention.push(attentionCaptures(g, attn.probs, attentionTopK, name));
    if (options.debugTaps) {
      taps.push({ attn_probs: attn.probs!, attn_out: attn.out, ffn_inp: ffnInput, ffn_moe_out: moeOut, l_out: x });
    }
  }

  const finalNormWeight = g.initializer('output_norm.weight', denseTensor(source, tensorNames.finalNorm, [H]), [H]);
  const normed = rmsNorm(g, x, finalNormWeight, config.rmsNormEps, 'result_norm', options.variant);
  const rows =
    options.logits === 'last' ? g.op('Slice', [normed, g.constInt64([-1]), g.constInt64([Number.MAX_SAFE_INTEGER]), g.constInt64([0])], 'result_norm.last') : normed;
  const lmHead = g.initializer('output.weight', denseTensor(source, tensorNames.lmHead, [config.vocabSize, H]), [config.vocabSize, H]);
  const logitRows = matMulIn(g, rows, lmHead, 'result_output', precision, 'Gemm', { transB: 1 });
  g.op('Unsqueeze', [logitRows, g.constInt64([0])], LOGITS);
  g.op('ReduceLogSumExp', [LOGITS, g.constInt64([-1])], LOGITS_LOGSUMEXP, { keepdims: 0 });

  // Outputs, in a stable order.
  g.output(LOGITS, 'float32', [1, options.logits === 'last' ? 1 : SEQ, config.vocabSize]);
  g.output(LOGITS_LOGSUMEXP, 'float32', [1, options.logits === 'last' ? 1 : SEQ]);
  const kvCache = fused ? Array.from({ length: config.numLayers }, (_, l) => kvCacheIo(l)) : [];
  for (const kv of kvCache) {
    g.output(kv.presentKey, 'float32', [1, config.numKvHeads, TOTAL, config.headDim]);
    g.output(kv.presentValue, 'float32', [1, config.numKvHeads, TOTAL, config.headDim]);
  }
  for (const r of routing) {
    g.output(r.logits, 'float32', [SEQ, config.numExperts]);
    g.output(r.topk, 'int64', [SEQ, config.expertsPerToken]);
    g.output(r.weights, 'float32', [SEQ, config.expertsPerToken]);
  }
  for (const a of attention) {
    g.output(a.sinkMass, 'float32', [SEQ, config.numHeads]);
    g.output(a.topPositions, 'int64', [SEQ, config.numHeads, 'attention_top_k']);
    g.output(a.topWeights, 'float32', [SEQ, config.numHeads, 'attention_top_k']);
  }
  for (const tap of taps) {
    g.output(tap.attn_probs, 'float32', [config.numHeads, SEQ, TOTAL]);
    for (const key of ['attn_out', 'ffn_inp', 'ffn_moe_out', 'l_out']) g.output(tap[key], 'float32', [SEQ, H]);
  }

  const built = g.build();
  const io: GraphIo = {
    variant: options.variant,
    ops: options.variant === 'fused' ? options.ops ?? 'contrib' : 'standard',
    ...g.io,
    logits: options.logits,
    numLayers: config.numLayers,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    maxPositions: options.maxPositions,
    attentionTopK,
    kvCache,
    routing: options.capture.routing ? routing : null,
    attention: options.capture.attention ? attention : null,
    debugTaps: options.debugTaps ? taps : null,
  };
  return { ...built, io };
}
