/**
 * The two small building blocks every gpt-oss block uses: RMSNorm (spec §4.3) and a linear layer
 * y = x W^T + b with W stored [out, in] as in the checkpoint (spec §2.2).
 */
import type { GraphBuilder } from './onnx';

export type GraphVariant = 'fused' | 'reference';

/**
 * y = x / sqrt(mean(x^2) + eps) * w over the last axis. No "1 + w" offset, no bias.
 * Fused: ORT's SimplifiedLayerNormalization; reference: the formula in standard ops.
 */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number, out: string, variant: GraphVariant): string {
  if (variant === 'fused') {
    return g.op('SimplifiedLayerNormalization', [x, weight], out, { axis: -1, epsilon: { float: eps }, stash_type: 1 });
  }
  const squared = g.op('Mul', [x, x], `${out}.sq`);
  const meanSquare = g.op('ReduceMean', [squared, g.constInt64([-1])], `${out}.mean_sq`, { keepdims: 1 });
  const variance = g.op('Add', [meanSquare, g.constFloat([eps], [])], `${out}.mean_sq_eps`);
  const rms = g.op('Sqrt', [variance], `${out}.rms`);
  const normalized = g.op('Div', [x, rms], `${out}.normalized`);
  return g.op('Mul', [normalized, weight], out);
}

/** y = x W^T + b for 2-D x [rows, in] and W [out, in] (Gemm with transB, so W stays in checkpoint layout). */
export function linear(g: GraphBuilder, x: string, weight: string, bias: string | null, out: string): string {
  return g.op('Gemm', bias ? [x, weight, bias] : [x, weight], out, { transB: 1 });
}

/** Arithmetic of the large matmuls (experts, lm_head) in the WebGPU build; everything else stays fp32. */
export type Precision = 'fp32' | 'fp16';

const FLOAT = 1;
const FLOAT16 = 10;

/**
 * `a`·`b` computed in `precision`: for fp16 both operands are cast (a cast of an initializer is
 * folded at session creation, so the weight is held in fp16) and the product cast back to fp32.
 */
export function matMulIn(g: GraphBuilder, a: string, b: string, out: string, precision: Precision, op: 'MatMul' | 'Gemm' = 'MatMul', attrs = {}): string {
  if (precision === 'fp32') return g.op(op, [a, b], out, attrs);
  const half = (t: string) => g.op('Cast', [t], `${t}.fp16.${out}`, { to: FLOAT16 });
  return g.op('Cast', [g.op(op, [half(a), half(b)], `${out}.fp16`, attrs)], out, { to: FLOAT });
}
