/**
 * A deterministic in-memory WeightSource with random weights, for graph tests and cross-checks.
 * Each tensor is drawn from its own PRNG stream (seed + tensor name), so values do not depend on
 * the order tensors are read in.
 */
import { TINY_PRESETS, type GptOssConfig } from '../../../lib/model/config';
import { expectedTensors, type Mxfp4Tensor, type WeightSource } from '../../../lib/model/weights';
import { mulberry32 } from '../../../lib/model/generate';

/** TINY_PRESETS.tiny with a 512-token vocabulary, to keep the graphs small. */
export const TEST_CONFIG: GptOssConfig = { ...TINY_PRESETS.tiny, vocabSize: 512, layerTypes: [...TINY_PRESETS.tiny.layerTypes] };

/** mulberry32, the generator's PRNG. */
export const prng = mulberry32;

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Uniform spread per tensor kind: norms near 1, sinks and biases moderate, matrices ~1/sqrt(fan-in)
 * so activations stay O(1) through the layers at any width (wider random nets otherwise turn chaotic
 * and amplify float32 rounding differences layer after layer).
 */
function spreadFor(name: string, shape: number[]): { center: number; halfWidth: number } {
  if (name.endsWith('norm.weight')) return { center: 1, halfWidth: 0.2 };
  if (name.endsWith('sinks')) return { center: 0, halfWidth: 2 };
  if (name.endsWith('embed_tokens.weight')) return { center: 0, halfWidth: 1 };
  if (name.endsWith('bias')) return { center: 0, halfWidth: 0.2 };
  const fanIn = shape[shape.length - 1];
  return { center: 0, halfWidth: (name.includes('router') ? 4 : 2) / Math.sqrt(fanIn) };
}

/** E8M0 exponent that makes MXFP4 weights (E2M1 rms ~3.2) have rms ~1/sqrt(fan-in). */
function expertScaleExponent(fanIn: number): number {
  return Math.round(Math.log2(1 / (3.2 * Math.sqrt(fanIn))));
}

export interface RandomWeights extends WeightSource {
  /** Every dense tensor name this source serves. */
  readonly denseNames: string[];
}

export function randomWeights(config: GptOssConfig = TEST_CONFIG, seed = 1): RandomWeights {
  const expected = expectedTensors(config);
  const shapes = new Map(expected.map((t) => [t.name, t.shape]));
  const denseCache = new Map<string, Float32Array>();
  const mxfp4Cache = new Map<string, Mxfp4Tensor>();

  function dense(name: string): Float32Array {
    const shape = shapes.get(name);
    if (!shape || expected.find((t) => t.name === name)?.kind !== 'dense') throw new Error(`random weights: no dense tensor ${name}`);
    let data = denseCache.get(name);
    if (!data) {
      const next = prng(seed ^ hashName(name));
      const { center, halfWidth } = spreadFor(name, shape);
      data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = center + (2 * next() - 1) * halfWidth;
      denseCache.set(name, data);
    }
    return data;
  }

  function mxfp4(layer: number, which: 'gate_up' | 'down'): Mxfp4Tensor {
    const key = `${layer}.${which}`;
    let tensor = mxfp4Cache.get(key);
    if (!tensor) {
      const rows = which === 'gate_up' ? 2 * config.intermediateSize : config.hiddenSize;
      const cols = which === 'gate_up' ? config.hiddenSize : config.intermediateSize;
      const blockCount = config.numExperts * rows * (cols / 32);
      const next = prng(seed ^ hashName(`experts.${key}`));
      const blocks = new Uint8Array(blockCount * 16);
      for (let i = 0; i < blocks.length; i++) blocks[i] = Math.floor(next() * 256);
      // Exponents spread one either side of the fan-in scale (2^-6 .. 2^-4 for fan-in 64).
      const base = 127 + expertScaleExponent(cols);
      const scales = new Uint8Array(blockCount);
      for (let i = 0; i < scales.length; i++) scales[i] = base - 1 + Math.floor(next() * 3);
      tensor = { blocks, scales, shape: [config.numExperts, rows, cols] };
      mxfp4Cache.set(key, tensor);
    }
    return tensor;
  }

  return {
    config,
    dense,
    mxfp4,
    denseNames: expected.filter((t) => t.kind === 'dense').map((t) => t.name),
  };
}

/** Deterministic token ids in [0, vocab). */
export function randomTokens(count: number, vocabSize: number, seed = 7): number[] {
  const next = prng(seed);
  return Array.from({ length: count }, () => Math.floor(next() * vocabSize));
}
