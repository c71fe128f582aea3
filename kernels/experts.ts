/**
 * MoE experts (spec §4.6): u = W1 x + b1 with interleaved gate/up rows, the clamped alpha-SwiGLU
 * h = min(gate, L) * sigmoid(alpha * min(gate, L)) * (clamp(lin, -L, L) + 1), y = W2 h + b2, and the
 * routing-weighted sum over the top-k experts.
 *
 * Fused: com.microsoft MoE (fp32) or QMoE (int8, block 32). Both take the RAW router logits and
 * re-derive top-k with normalize_routing_weights=1 (softmax over all, renormalized over the top k,
 * which equals a softmax over the k logits). Weights in checkpoint layout: fc1 [E, 2I, H] with
 * interleaved gate/up rows (swiglu_fusion=1), fc2 [E, H, I]; QMoE weights are uint8 with the implicit
 * zero point 128 and float scales [E, rows, cols/32].
 * Reference: every expert densely, combined with a [S, E] weight matrix that is zero outside the top-k.
 */
import { SWIGLU_ALPHA } from '../lib/model/config';
import { matMulIn, type Precision } from './layers';
import { MS_DOMAIN, type Attrs, type GraphBuilder, type Namer } from './onnx';
import type { RouterOutputs } from './router';

export const QMOE_BLOCK_SIZE = 32;

export type ExpertWeights =
  | { kind: 'float'; gateUp: string; gateUpBias: string; down: string; downBias: string }
  | { kind: 'int8'; gateUp: string; gateUpScales: string; gateUpBias: string; down: string; downScales: string; downBias: string };

export interface ExpertShape {
  numExperts: number;
  k: number;
  swigluLimit: number;
}

function moeAttributes(shape: ExpertShape): Attrs {
  return {
    k: shape.k,
    activation_type: 'swiglu',
    swiglu_fusion: 1,
    activation_alpha: { float: SWIGLU_ALPHA },
    activation_beta: { float: 1 },
    swiglu_limit: { float: shape.swigluLimit },
    normalize_routing_weights: 1,
  };
}

/** x [S, H], raw router logits [S, E] -> [S, H]. */
export function fusedExperts(g: GraphBuilder, x: string, routerLogits: string, w: ExpertWeights, shape: ExpertShape, name: Namer): string {
  const out = name('ffn_moe_out');
  if (w.kind === 'float') {
    return g.op('MoE', [x, routerLogits, w.gateUp, w.gateUpBias, w.down, w.downBias], out, moeAttributes(shape), MS_DOMAIN);
  }
  return g.op(
    'QMoE',
    [x, routerLogits, w.gateUp, w.gateUpScales, w.gateUpBias, w.down, w.downScales, w.downBias],
    out,
    { ...moeAttributes(shape), expert_weight_bits: 8, block_size: QMOE_BLOCK_SIZE },
    MS_DOMAIN,
  );
}

/** The clamped alpha-SwiGLU on u [..., 2I] with interleaved gate (even) / linear (odd) columns. */
export function clampedSwiglu(g: GraphBuilder, u: string, limit: number, name: Namer): string {
  const lastAxis = g.constInt64([-1]);
  const step = g.constInt64([2]);
  const end = g.constInt64([Number.MAX_SAFE_INTEGER]);
  const gateRaw = g.op('Slice', [u, g.constInt64([0]), end, lastAxis, step], name('ffn_gate'));
  const linRaw = g.op('Slice', [u, g.constInt64([1]), end, lastAxis, step], name('ffn_up'));
  const gate = g.op('Min', [gateRaw, g.constFloat([limit], [])], name('ffn_gate_clamped'));
  const lin = g.op('Clip', [linRaw, g.constFloat([-limit], []), g.constFloat([limit], [])], name('ffn_up_clamped'));
  const sigmoid = g.op('Sigmoid', [g.op('Mul', [gate, g.constFloat([SWIGLU_ALPHA], [])], name('ffn_gate_alpha'))], name('ffn_gate_sigmoid'));
  const glu = g.op('Mul', [gate, sigmoid], name('ffn_glu'));
  const linPlusOne = g.op('Add', [lin, g.constFloat([1], [])], name('ffn_up_plus_one'));
  return g.op('Mul', [glu, linPlusOne], name('ffn_swiglu'));
}

/** Float expert weights as graph values (initializers, or int8 blocks dequantized in-graph). */
export type DenseExpertWeights = Omit<Extract<ExpertWeights, { kind: 'float' }>, 'kind'>;

/** uint8 [E, rows, cols] with the implicit zero point 128 and scales [E, rows, cols/32] -> float [E, rows, cols], exact. */
function dequantizeBlocks(g: GraphBuilder, weights: string, scales: string, out: string): string {
  const centered = g.op('Sub', [g.op('Cast', [weights], `${out}.float`, { to: 1 }), g.constFloat([128], [])], `${out}.centered`);
  const blocks = g.op('Reshape', [centered, g.constInt64([0, 0, -1, QMOE_BLOCK_SIZE])], `${out}.blocks`);
  const scaled = g.op('Mul', [blocks, g.op('Unsqueeze', [scales, g.constInt64([-1])], `${out}.scales`)], `${out}.scaled`);
  return g.op('Reshape', [scaled, g.constInt64([0, 0, -1])], out);
}

/** The float weights of either expert encoding: int8 blocks are dequantized in the graph (lossless for MXFP4). */
export function denseExpertWeights(g: GraphBuilder, w: ExpertWeights, name: Namer): DenseExpertWeights {
  if (w.kind === 'float') return w;
  return {
    gateUp: dequantizeBlocks(g, w.gateUp, w.gateUpScales, name('ffn_gate_up_exps.dequantized')),
    gateUpBias: w.gateUpBias,
    down: dequantizeBlocks(g, w.down, w.downScales, name('ffn_down_exps.dequantized')),
    downBias: w.downBias,
  };
}

/**
 * All experts densely in standard ops, weighted by the router's top-k softmax (zero outside the top
 * k): the reference, and the expert block on providers without a right MoE kernel (WebGPU).
 */
export function denseExperts(
  g: GraphBuilder,
  x: string,
  routing: RouterOutputs,
  w: DenseExpertWeights,
  shape: ExpertShape,
  name: Namer,
  precision: Precision = 'fp32',
): string {
  const transposeRows = { perm: [0, 2, 1] };
  const gateUpT = g.op('Transpose', [w.gateUp], name('ffn_gate_up_exps.t'), transposeRows);
  const downT = g.op('Transpose', [w.down], name('ffn_down_exps.t'), transposeRows);
  const perExpertBias = g.constInt64([shape.numExperts, 1, -1]);
  const gateUpBias = g.op('Reshape', [w.gateUpBias, perExpertBias], name('ffn_gate_up_exps_b.rows'));
  const downBias = g.op('Reshape', [w.downBias, perExpertBias], name('ffn_down_exps_b.rows'));

  // [S, H] x [E, H, 2I] broadcasts to [E, S, 2I].
  const u = g.op('Add', [matMulIn(g, x, gateUpT, name('ffn_gate_up_mm'), precision), gateUpBias], name('ffn_gate_up'));
  const h = clampedSwiglu(g, u, shape.swigluLimit, name);
  const y = g.op('Add', [matMulIn(g, h, downT, name('ffn_down_mm'), precision), downBias], name('ffn_down'));

  const zeros = g.op('ConstantOfShape', [g.op('Shape', [routing.logits], name('ffn_moe_logits_shape'))], name('ffn_moe_zeros'));
  const combine = g.op('ScatterElements', [zeros, routing.topk, routing.weights], name('ffn_moe_combine'), { axis: 1 });
  const combineExpertMajor = g.op('Unsqueeze', [g.op('Transpose', [combine], name('ffn_moe_combine.t'), { perm: [1, 0] }), g.constInt64([2])], name('ffn_moe_combine.e_s_1'));
  const weighted = g.op('Mul', [y, combineExpertMajor], name('ffn_moe_weighted'));
  return g.op('ReduceSum', [weighted, g.constInt64([0])], name('ffn_moe_out'), { keepdims: 0 });
}
