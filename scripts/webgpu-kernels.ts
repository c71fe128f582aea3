/**
 * Minimal reproductions of what onnxruntime-node 1.30's WebGPU contrib kernels compute for gpt-oss's
 * attributes, against an fp64 reference and the CPU provider (docs/webgpu-kernels.md):
 *   tsx scripts/webgpu-kernels.ts
 * Each case is one node with random inputs; the table prints the largest |error| per provider and
 * the WebGPU programs that ran (from onnxruntime's verbose log, which goes to stderr).
 */
import * as ort from 'onnxruntime-node';
import { webGpuAdapter } from '../kernels/device';
import { GraphBuilder, MS_DOMAIN, type BuiltModel } from '../kernels/onnx';
import { mulberry32 } from '../lib/model/generate';
import { attentionWithSinks, clampedSwiglu, SWIGLU_ALPHA } from '../tests/reference/forward64';

const random = mulberry32(7);
const uniform = (n: number, spread = 1) => Float32Array.from({ length: n }, () => spread * (2 * random() - 1));

function maxError(actual: Float32Array, expected: Float64Array): number {
  return actual.reduce((worst, value, i) => Math.max(worst, Math.abs(value - expected[i])), 0);
}

async function runOn(device: 'cpu' | 'webgpu', built: BuiltModel, feeds: Record<string, ort.Tensor>): Promise<Float32Array | string> {
  try {
    const session = await ort.InferenceSession.create(built.model, { externalData: built.externalData, executionProviders: [device], logSeverityLevel: 3 });
    try {
      return (await session.run(feeds)).y.data as Float32Array;
    } finally {
      await session.release();
    }
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^.*Status Message: /s, '') : String(error);
  }
}

async function report(label: string, built: BuiltModel, feeds: Record<string, ort.Tensor>, expected: Float64Array): Promise<void> {
  const cells: string[] = [];
  for (const device of ['cpu', 'webgpu'] as const) {
    const result = await runOn(device, built, feeds);
    cells.push(typeof result === 'string' ? `${device}: ERROR ${result}` : `${device}: ${maxError(result, expected).toExponential(1)}`);
  }
  console.log(`${label.padEnd(58)} ${cells.join('   ')}`);
}

const NUM_HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = 32;

/** One GroupQueryAttention node (no rotary) with gpt-oss's sinks; S new tokens after an empty cache. */
async function groupQueryAttention(S: number, window: number, qkOutput: boolean): Promise<void> {
  const q = uniform(S * NUM_HEADS * HEAD_DIM, 2);
  const k = uniform(S * KV_HEADS * HEAD_DIM, 2);
  const v = uniform(S * KV_HEADS * HEAD_DIM);
  const sinks = uniform(NUM_HEADS, 2);
  const g = new GraphBuilder('gqa');
  g.input('q', 'float32', [1, S, NUM_HEADS * HEAD_DIM]);
  g.input('k', 'float32', [1, S, KV_HEADS * HEAD_DIM]);
  g.input('v', 'float32', [1, S, KV_HEADS * HEAD_DIM]);
  const empty = g.initializer('past', new Float32Array(0), [1, KV_HEADS, 0, HEAD_DIM]);
  const seqlens = g.initializer('seqlens_k', Int32Array.of(S - 1), [1]);
  const total = g.initializer('total', Int32Array.of(S), []);
  g.initializer('sinks', sinks, [NUM_HEADS]);
  const outputs = ['y', 'present_k', 'present_v', ...(qkOutput ? ['qk'] : [])];
  g.node('GroupQueryAttention', ['q', 'k', 'v', empty, empty, seqlens, total, '', '', '', '', 'sinks'], outputs, {
    num_heads: NUM_HEADS,
    kv_num_heads: KV_HEADS,
    scale: { float: 1 / Math.sqrt(HEAD_DIM) },
    local_window_size: window,
    ...(qkOutput ? { qk_output: 2 } : {}),
  }, MS_DOMAIN);
  g.output('y', 'float32', [1, S, NUM_HEADS * HEAD_DIM]);

  const expected = new Float64Array(S * NUM_HEADS * HEAD_DIM);
  for (let t = 0; t < S; t++) {
    for (let h = 0; h < NUM_HEADS; h++) {
      const kv = Math.floor(h / (NUM_HEADS / KV_HEADS));
      const scores = Float64Array.from({ length: t + 1 }, (_, j) => {
        if (window > 0 && t - j >= window) return -Infinity;
        let dot = 0;
        for (let d = 0; d < HEAD_DIM; d++) dot += q[(t * NUM_HEADS + h) * HEAD_DIM + d] * k[(j * KV_HEADS + kv) * HEAD_DIM + d];
        return dot / Math.sqrt(HEAD_DIM);
      });
      const { probabilities } = attentionWithSinks(scores, sinks[h]);
      probabilities.forEach((p, j) => {
        for (let d = 0; d < HEAD_DIM; d++) expected[(t * NUM_HEADS + h) * HEAD_DIM + d] += p * v[(j * KV_HEADS + kv) * HEAD_DIM + d];
      });
    }
  }
  const feeds = {
    q: new ort.Tensor('float32', q, [1, S, NUM_HEADS * HEAD_DIM]),
    k: new ort.Tensor('float32', k, [1, S, KV_HEADS * HEAD_DIM]),
    v: new ort.Tensor('float32', v, [1, S, KV_HEADS * HEAD_DIM]),
  };
  await report(`GroupQueryAttention S=${S} window=${window}${qkOutput ? ' qk_output=2' : ''}`, g.build(), feeds, expected);
}

const HIDDEN = 64;
const INTERMEDIATE = 64;
const EXPERTS = 8;
const TOP_K = 4;
const BLOCK = 32;
const LIMIT = 7;

/** One MoE (float) or QMoE (int8, zero point 128, block 32) node with gpt-oss's SwiGLU attributes over S tokens. */
async function mixtureOfExperts(kind: 'float' | 'int8', S: number): Promise<void> {
  const x = uniform(S * HIDDEN, 2);
  const logits = uniform(S * EXPERTS, 2);
  const quantized = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const scales = (n: number) => Float32Array.from({ length: n / BLOCK }, () => 2 ** (-7 - Math.floor(random() * 2)));
  const [q1, q2] = [quantized(EXPERTS * 2 * INTERMEDIATE * HIDDEN), quantized(EXPERTS * HIDDEN * INTERMEDIATE)];
  const [s1, s2] = [scales(q1.length), scales(q2.length)];
  const [b1, b2] = [uniform(EXPERTS * 2 * INTERMEDIATE, 0.1), uniform(EXPERTS * HIDDEN, 0.1)];
  const dequantize = (q: Uint8Array, s: Float32Array) => Float32Array.from(q, (value, i) => (value - 128) * s[Math.floor(i / BLOCK)]);
  const [w1, w2] = [dequantize(q1, s1), dequantize(q2, s2)];

  const g = new GraphBuilder('moe');
  g.input('x', 'float32', [S, HIDDEN]);
  g.input('logits', 'float32', [S, EXPERTS]);
  const attributes = {
    k: TOP_K, activation_type: 'swiglu', swiglu_fusion: 1, activation_alpha: { float: SWIGLU_ALPHA },
    activation_beta: { float: 1 }, swiglu_limit: { float: LIMIT }, normalize_routing_weights: 1,
  };
  const fc1 = [EXPERTS, 2 * INTERMEDIATE, HIDDEN];
  const fc2 = [EXPERTS, HIDDEN, INTERMEDIATE];
  const bias1 = g.initializer('b1', b1, [EXPERTS, 2 * INTERMEDIATE]);
  const bias2 = g.initializer('b2', b2, [EXPERTS, HIDDEN]);
  if (kind === 'int8') {
    const blocks = (dims: number[]) => [dims[0], dims[1], dims[2] / BLOCK];
    const inputs = ['x', 'logits', g.initializer('w1', q1, fc1), g.initializer('s1', s1, blocks(fc1)), bias1, g.initializer('w2', q2, fc2), g.initializer('s2', s2, blocks(fc2)), bias2];
    g.node('QMoE', inputs, ['y'], { ...attributes, expert_weight_bits: 8, block_size: BLOCK }, MS_DOMAIN);
  } else {
    g.node('MoE', ['x', 'logits', g.initializer('w1', w1, fc1), bias1, g.initializer('w2', w2, fc2), bias2], ['y'], attributes, MS_DOMAIN);
  }
  g.output('y', 'float32', [S, HIDDEN]);

  const expected = new Float64Array(S * HIDDEN);
  for (let s = 0; s < S; s++) {
    const z = logits.subarray(s * EXPERTS, (s + 1) * EXPERTS);
    const top = Array.from(z.keys()).sort((a, b) => z[b] - z[a]).slice(0, TOP_K);
    const exps = top.map((e) => Math.exp(z[e] - z[top[0]]));
    const sum = exps.reduce((a, b) => a + b, 0);
    top.forEach((e, slot) => {
      const u = Float64Array.from({ length: 2 * INTERMEDIATE }, (_, r) => {
        let acc = b1[e * 2 * INTERMEDIATE + r];
        for (let c = 0; c < HIDDEN; c++) acc += w1[(e * 2 * INTERMEDIATE + r) * HIDDEN + c] * x[s * HIDDEN + c];
        return acc;
      });
      const h = Float64Array.from({ length: INTERMEDIATE }, (_, i) => clampedSwiglu(u[2 * i], u[2 * i + 1], LIMIT));
      for (let o = 0; o < HIDDEN; o++) {
        let acc = b2[e * HIDDEN + o];
        for (let i = 0; i < INTERMEDIATE; i++) acc += w2[(e * HIDDEN + o) * INTERMEDIATE + i] * h[i];
        expected[s * HIDDEN + o] += (exps[slot] / sum) * acc;
      }
    });
  }
  const feeds = { x: new ort.Tensor('float32', x, [S, HIDDEN]), logits: new ort.Tensor('float32', logits, [S, EXPERTS]) };
  await report(`${kind === 'int8' ? 'QMoE int8' : 'MoE float'} over ${S} tokens`, g.build(), feeds, expected);
}

async function main(): Promise<void> {
  const adapter = await webGpuAdapter();
  console.log(`adapter: ${adapter.name}\nlargest |error| against the fp64 reference:\n`);
  for (const S of [8, 16, 17, 40, 170]) await groupQueryAttention(S, -1, false);
  for (const S of [40, 170]) await groupQueryAttention(S, 128, false);
  await groupQueryAttention(16, -1, true);
  for (const S of [1, 3, 4, 16, 170]) await mixtureOfExperts('int8', S);
  await mixtureOfExperts('float', 16);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
