/**
 * gpt-oss attention (spec §4.4): biased q/k/v projections, NeoX half-split YaRN rotary, GQA,
 * causal mask (plus a 128-key window on sliding layers), a per-head sink logit in the softmax
 * denominator whose probability is dropped, then the biased output projection.
 *
 * Fused: com.microsoft GroupQueryAttention with a KV cache. Reference: standard ops, whole
 * sequence at positions 0..S-1, no cache.
 */
import { linear } from './layers';
import { MS_DOMAIN, type GraphBuilder, type Namer } from './onnx';

export interface AttentionWeights {
  q: string;
  qBias: string;
  k: string;
  kBias: string;
  v: string;
  vBias: string;
  o: string;
  oBias: string;
  /** [H] one learned logit per query head (not scaled). */
  sinks: string;
}

export interface AttentionShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Keys visible to a query, itself included (128), or null on full-attention layers. */
  window: number | null;
}

/** cos/sin tables [maxPositions, headDim/2], concentration already multiplied in. */
export interface RopeInitializers {
  cos: string;
  sin: string;
}

export interface KvCacheNames {
  pastKey: string;
  pastValue: string;
  /** int32 [1] = P + S - 1 */
  seqlensK: string;
  /** int32 scalar = P + S */
  totalSequenceLength: string;
  presentKey: string;
  presentValue: string;
}

export interface AttentionResult {
  /** [S, hidden] the attention branch, before the residual add. */
  out: string;
  /** [H, S, T] post-softmax probabilities over real keys (sink dropped), when requested. */
  probs: string | null;
}

export function attentionScale(headDim: number): number {
  return 1 / Math.sqrt(headDim);
}

function projections(g: GraphBuilder, x: string, w: AttentionWeights, name: Namer): { q: string; k: string; v: string } {
  return {
    q: linear(g, x, w.q, w.qBias, name('attn_q')),
    k: linear(g, x, w.k, w.kBias, name('attn_k')),
    v: linear(g, x, w.v, w.vBias, name('attn_v')),
  };
}

export function fusedAttention(
  g: GraphBuilder,
  x: string,
  w: AttentionWeights,
  shape: AttentionShape,
  rope: RopeInitializers,
  cache: KvCacheNames,
  wantProbs: boolean,
  name: Namer,
): AttentionResult {
  const { context, probs } = fusedAttentionCore(g, projections(g, x, w, name), w.sinks, shape, rope, cache, wantProbs, name);
  return { out: linear(g, context, w.o, w.oBias, name('attn_out')), probs };
}

/**
 * GroupQueryAttention from projected q [S, H*d], k and v [S, KV*d] (rotary, cache, sinks, window)
 * to the context [S, H*d] that the output projection takes; the native path projects outside.
 */
export function fusedAttentionCore(
  g: GraphBuilder,
  qkv: { q: string; k: string; v: string },
  sinks: string,
  shape: AttentionShape,
  rope: RopeInitializers,
  cache: KvCacheNames,
  wantProbs: boolean,
  name: Namer,
): { context: string; probs: string | null } {
  const batchAxis = g.constInt64([0]);
  const [qB, kB, vB] = [qkv.q, qkv.k, qkv.v].map((t) => g.op('Unsqueeze', [t, batchAxis], `${t}.batched`));
  const probsBatched = name('attn_probs.batched');
  const outputs = [name('attn_context.batched'), cache.presentKey, cache.presentValue, ...(wantProbs ? [probsBatched] : [])];
  g.node(
    'GroupQueryAttention',
    [qB, kB, vB, cache.pastKey, cache.pastValue, cache.seqlensK, cache.totalSequenceLength, rope.cos, rope.sin, '', '', sinks],
    outputs,
    {
      num_heads: shape.numHeads,
      kv_num_heads: shape.numKvHeads,
      scale: { float: attentionScale(shape.headDim) },
      local_window_size: shape.window ?? -1,
      do_rotary: 1,
      rotary_interleaved: 0,
      ...(wantProbs ? { qk_output: 2 } : {}),
    },
    MS_DOMAIN,
  );
  const context = g.op('Squeeze', [outputs[0], batchAxis], name('attn_context'));
  const probs = wantProbs ? g.op('Squeeze', [probsBatched, batchAxis], name('attn_probs')) : null;
  return { context, probs };
}

/** [S, n*d] -> [n, S, d] */
function splitHeads(g: GraphBuilder, t: string, heads: number, headDim: number): string {
  const reshaped = g.op('Reshape', [t, g.constInt64([-1, heads, headDim])], `${t}.heads`);
  return g.op('Transpose', [reshaped], `${t}.head_major`, { perm: [1, 0, 2] });
}

/** NeoX half-split rotary: out[i] = x[i] C - x[i+d/2] S, out[i+d/2] = x[i+d/2] C + x[i] S. */
function rotate(g: GraphBuilder, t: string, cos: string, sin: string, headDim: number): string {
  const half = headDim / 2;
  const lastAxis = g.constInt64([-1]);
  const first = g.op('Slice', [t, g.constInt64([0]), g.constInt64([half]), lastAxis], `${t}.rot_first`);
  const second = g.op('Slice', [t, g.constInt64([half]), g.constInt64([headDim]), lastAxis], `${t}.rot_second`);
  const firstOut = g.op(
    'Sub',
    [g.op('Mul', [first, cos], `${t}.rot_first_cos`), g.op('Mul', [second, sin], `${t}.rot_second_sin`)],
    `${t}.rot_first_out`,
  );
  const secondOut = g.op(
    'Add',
    [g.op('Mul', [second, cos], `${t}.rot_second_cos`), g.op('Mul', [first, sin], `${t}.rot_first_sin`)],
    `${t}.rot_second_out`,
  );
  return g.op('Concat', [firstOut, secondOut], `${t}.rope`, { axis: -1 });
}

/** [KV, S, d] -> [H, S, d]: query head h reads KV head floor(h / group). */
function repeatKvHeads(g: GraphBuilder, t: string, shape: AttentionShape): string {
  const group = shape.numHeads / shape.numKvHeads;
  if (group === 1) return t;
  const unsqueezed = g.op('Unsqueeze', [t, g.constInt64([1])], `${t}.kv_axis`);
  const tiled = g.op('Tile', [unsqueezed, g.constInt64([1, group, 1, 1])], `${t}.kv_tiled`);
  return g.op('Reshape', [tiled, g.constInt64([shape.numHeads, -1, shape.headDim])], `${t}.gqa`);
}

/** Per-query visible keys: offset = query position - key position, 0 <= offset (< window on sliding layers). */
function visibilityMask(g: GraphBuilder, queryPositions: string, keyPositions: string, window: number | null, name: Namer): string {
  const rows = g.op('Unsqueeze', [queryPositions, g.constInt64([1])], name('attn_query_pos'));
  const cols = g.op('Unsqueeze', [keyPositions, g.constInt64([0])], name('attn_key_pos'));
  const offset = g.op('Sub', [rows, cols], name('attn_offset'));
  const causal = g.op('GreaterOrEqual', [offset, g.constInt64([0], [])], name('attn_causal'));
  if (window === null) return causal;
  return g.op('And', [causal, g.op('Less', [offset, g.constInt64([window], [])], name('attn_in_window'))], name('attn_visible'));
}

/**
 * Attention of rotated queries [H, S, d] over rotated keys [KV, T, d] and values [KV, T, d] at explicit
 * positions, in standard ops: scaled scores, the causal/window mask, an explicit sink column in the
 * softmax (then dropped), and the output projection. Returns probs [H, S, T] over real keys.
 */
function standardAttentionCore(
  g: GraphBuilder,
  heads: { q: string; k: string; v: string },
  positions: { query: string; key: string; queryCount: string },
  w: AttentionWeights,
  shape: AttentionShape,
  name: Namer,
): AttentionResult {
  const { numHeads, headDim } = shape;
  const kT = g.op('Transpose', [repeatKvHeads(g, heads.k, shape)], name('attn_k_t'), { perm: [0, 2, 1] });
  const rawScores = g.op('MatMul', [heads.q, kT], name('attn_qk'));
  const scores = g.op('Mul', [rawScores, g.constFloat([attentionScale(headDim)], [])], name('attn_scores'));
  const visible = visibilityMask(g, positions.query, positions.key, shape.window, name);
  const masked = g.op('Where', [visible, scores, g.constFloat([-Infinity], [])], name('attn_scores_masked'));

  const keyCount = g.op('Shape', [positions.key], name('attn_key_count_1d'));
  const sinkShape = g.op('Concat', [g.constInt64([numHeads]), positions.queryCount, g.constInt64([1])], name('attn_sink_shape'), { axis: 0 });
  const sinkPerHead = g.op('Reshape', [w.sinks, g.constInt64([numHeads, 1, 1])], name('attn_sink_per_head'));
  const sinkColumn = g.op('Expand', [sinkPerHead, sinkShape], name('attn_sink_column'));
  const withSink = g.op('Concat', [masked, sinkColumn], name('attn_scores_with_sink'), { axis: -1 });
  const probsWithSink = g.op('Softmax', [withSink], name('attn_probs_with_sink'), { axis: -1 });
  const probs = g.op('Slice', [probsWithSink, g.constInt64([0]), keyCount, g.constInt64([-1])], name('attn_probs'));

  const context = g.op('MatMul', [probs, repeatKvHeads(g, heads.v, shape)], name('attn_context_heads'));
  const contextTokens = g.op('Transpose', [context], name('attn_context_tokens'), { perm: [1, 0, 2] });
  const contextFlat = g.op('Reshape', [contextTokens, g.constInt64([-1, numHeads * headDim])], name('attn_context'));
  return { out: linear(g, contextFlat, w.o, w.oBias, name('attn_out')), probs };
}

/** Positions start..start+count-1 (int64 scalars in, [count] out). */
function positionRange(g: GraphBuilder, start: string, count: string, out: string): string {
  return g.op('Range', [start, g.op('Add', [start, count], `${out}.end`), g.constInt64([1], [])], out);
}

/** Rotary on [n, S, d] heads at the given positions (cos/sin rows gathered from the YaRN tables). */
function rotateAt(g: GraphBuilder, t: string, rope: RopeInitializers, positions: string, headDim: number): string {
  const cos = g.op('Gather', [rope.cos, positions], `${t}.rope_cos`, { axis: 0 });
  const sin = g.op('Gather', [rope.sin, positions], `${t}.rope_sin`, { axis: 0 });
  return rotate(g, t, cos, sin, headDim);
}

/** The reference: the whole sequence at positions 0..S-1, no cache. */
export function referenceAttention(
  g: GraphBuilder,
  x: string,
  w: AttentionWeights,
  shape: AttentionShape,
  rope: RopeInitializers,
  name: Namer,
): AttentionResult {
  const { numHeads, numKvHeads, headDim } = shape;
  const { q, k, v } = projections(g, x, w, name);
  const seqLen = g.op('Shape', [x], name('attn_seq_len'), { start: 0, end: 1 });
  const positions = positionRange(g, g.constInt64([0], []), g.op('Squeeze', [seqLen], name('attn_seq_len_scalar')), name('attn_positions'));
  const heads = {
    q: rotateAt(g, splitHeads(g, q, numHeads, headDim), rope, positions, headDim),
    k: rotateAt(g, splitHeads(g, k, numKvHeads, headDim), rope, positions, headDim),
    v: splitHeads(g, v, numKvHeads, headDim),
  };
  return standardAttentionCore(g, heads, { query: positions, key: positions, queryCount: seqLen }, w, shape, name);
}

/**
 * Standard-op attention with a KV cache in GroupQueryAttention's layout (past/present [1, KV, P|T, d],
 * keys stored rotated), for providers whose GroupQueryAttention computes something else for gpt-oss
 * (WebGPU: docs/webgpu-kernels.md). The new tokens sit at positions P..P+S-1, P read from the past's shape.
 */
export function cachedStandardAttention(
  g: GraphBuilder,
  x: string,
  w: AttentionWeights,
  shape: AttentionShape,
  rope: RopeInitializers,
  cache: KvCacheNames,
  name: Namer,
): AttentionResult {
  const { numHeads, numKvHeads, headDim } = shape;
  const { q, k, v } = projections(g, x, w, name);
  const seqLen = g.op('Shape', [x], name('attn_seq_len'), { start: 0, end: 1 });
  const pastLen = g.op('Squeeze', [g.op('Shape', [cache.pastKey], name('attn_past_len'), { start: 2, end: 3 })], name('attn_past_len_scalar'));
  const queryPositions = positionRange(g, pastLen, g.op('Squeeze', [seqLen], name('attn_seq_len_scalar')), name('attn_positions'));
  const batchAxis = g.constInt64([0]);
  const newKeys = rotateAt(g, splitHeads(g, k, numKvHeads, headDim), rope, queryPositions, headDim);
  const present = (past: string, fresh: string, out: string) =>
    g.op('Concat', [past, g.op('Unsqueeze', [fresh, batchAxis], `${fresh}.batched`)], out, { axis: 2 });
  const presentKey = present(cache.pastKey, newKeys, cache.presentKey);
  const presentValue = present(cache.pastValue, splitHeads(g, v, numKvHeads, headDim), cache.presentValue);
  const totalLen = g.op('Shape', [presentKey], name('attn_total_len'), { start: 2, end: 3 });
  const keyPositions = positionRange(g, g.constInt64([0], []), g.op('Squeeze', [totalLen], name('attn_total_len_scalar')), name('attn_key_positions'));
  const heads = {
    q: rotateAt(g, splitHeads(g, q, numHeads, headDim), rope, queryPositions, headDim),
    k: g.op('Squeeze', [presentKey, batchAxis], name('attn_keys')),
    v: g.op('Squeeze', [presentValue, batchAxis], name('attn_values')),
  };
  return standardAttentionCore(g, heads, { query: queryPositions, key: keyPositions, queryCount: seqLen }, w, shape, name);
}

export interface AttentionCaptureOutputs {
  /** [S, H] 1 - sum of probabilities over real keys. */
  sinkMass: string;
  /** [S, H, kk] int64 absolute key positions, descending weight; -1 where the weight is 0. */
  topPositions: string;
  /** [S, H, kk] their probabilities. */
  topWeights: string;
}

/** Summaries of probs [H, S, T]; kk = min(topK, T) is computed in-graph from T. */
export function attentionCaptures(g: GraphBuilder, probs: string, topK: number, name: Namer): AttentionCaptureOutputs {
  const rowSum = g.op('ReduceSum', [probs, g.constInt64([-1])], name('attn_key_mass'), { keepdims: 0 });
  const sinkHeadMajor = g.op('Sub', [g.constFloat([1], []), rowSum], name('attn_sink_mass.head_major'));
  const sinkMass = g.op('Transpose', [sinkHeadMajor], name('attn_sink_mass'), { perm: [1, 0] });

  const keyCount = g.op('Shape', [probs], name('attn_key_count'), { start: 2, end: 3 });
  const kept = g.op('Min', [keyCount, g.constInt64([topK])], name('attn_top_count'));
  const [weights, positions] = g.node('TopK', [probs, kept], [name('attn_top_weights.head_major'), name('attn_top_pos.head_major')], {
    axis: -1,
    largest: 1,
    sorted: 1,
  });
  const attended = g.op('Greater', [weights, g.constFloat([0], [])], name('attn_top_attended'));
  const positionsOrPad = g.op('Where', [attended, positions, g.constInt64([-1], [])], name('attn_top_pos.padded'));
  const topPositions = g.op('Transpose', [positionsOrPad], name('attn_top_pos'), { perm: [1, 0, 2] });
  const topWeights = g.op('Transpose', [weights], name('attn_top_weights'), { perm: [1, 0, 2] });
  return { sinkMass, topPositions, topWeights };
}
