/**
 * A seeded in-memory WeightSource with random weights of a given config, for testing the
 * reference without a checkpoint on disk. Each tensor is generated from its own name and the
 * seed, so repeated reads return identical values.
 */
import type { GptOssConfig } from '../../lib/model/config';
import { tensorNames, type Mxfp4Tensor, type WeightSource } from '../../lib/model/weights';
import { MXFP4_BYTES_PER_BLOCK, MXFP4_VALUES_PER_BLOCK } from './mxfp4';
import { mulberry32 } from '../../lib/model/generate';

/** mulberry32, the generator's PRNG. */
export const seededRandom = mulberry32;

function nameSeed(name: string, seed: number): number {
  let hash = seed ^ 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

interface DenseSpec {
  length: number;
  /** value = center + spread * uniform(-1, 1) */
  center: number;
  spread: number;
}

function denseSpecs(config: GptOssConfig): Map<string, DenseSpec> {
  const { hiddenSize: H, vocabSize: V, numHeads, numKvHeads, headDim, numExperts: E, intermediateSize: I } = config;
  const linear = (rows: number, cols: number): DenseSpec => ({ length: rows * cols, center: 0, spread: Math.sqrt(3 / cols) });
  const bias = (length: number): DenseSpec => ({ length, center: 0, spread: 0.1 });
  const norm: DenseSpec = { length: H, center: 1, spread: 0.2 };
  const specs = new Map<string, DenseSpec>([
    [tensorNames.embed, { length: V * H, center: 0, spread: 1.5 }],
    [tensorNames.finalNorm, norm],
    [tensorNames.lmHead, linear(V, H)],
  ]);
  for (let l = 0; l < config.numLayers; l++) {
    const n = tensorNames.layer(l);
    specs.set(n.inputNorm, norm);
    specs.set(n.qWeight, linear(numHeads * headDim, H));
    specs.set(n.qBias, bias(numHeads * headDim));
    specs.set(n.kWeight, linear(numKvHeads * headDim, H));
    specs.set(n.kBias, bias(numKvHeads * headDim));
    specs.set(n.vWeight, linear(numKvHeads * headDim, H));
    specs.set(n.vBias, bias(numKvHeads * headDim));
    specs.set(n.oWeight, linear(H, numHeads * headDim));
    specs.set(n.oBias, bias(H));
    specs.set(n.sinks, { length: numHeads, center: 0, spread: 2 });
    specs.set(n.postAttnNorm, norm);
    specs.set(n.routerWeight, linear(E, H));
    specs.set(n.routerBias, bias(E));
    specs.set(n.gateUpBias, bias(E * 2 * I));
    specs.set(n.downBias, bias(E * H));
  }
  return specs;
}

function randomMxfp4(experts: number, rows: number, columns: number, random: () => number): Mxfp4Tensor {
  const blockCount = experts * rows * (columns / MXFP4_VALUES_PER_BLOCK);
  const blocks = new Uint8Array(blockCount * MXFP4_BYTES_PER_BLOCK);
  for (let i = 0; i < blocks.length; i++) blocks[i] = Math.floor(random() * 256);
  // Typical |value| ≈ 2 × 2^(s-127); aim at ≈ 1/sqrt(columns) so activations stay O(1).
  const centerScale = 127 + Math.round(Math.log2(1 / Math.sqrt(columns) / 2));
  const scales = new Uint8Array(blockCount);
  for (let i = 0; i < scales.length; i++) scales[i] = centerScale - 1 + Math.floor(random() * 3);
  return { blocks, scales, shape: [experts, rows, columns] };
}

export function randomWeightSource(config: GptOssConfig, seed = 1): WeightSource {
  const specs = denseSpecs(config);
  const cache = new Map<string, Float32Array>();
  return {
    config,
    dense(name: string): Float32Array {
      const spec = specs.get(name);
      if (!spec) throw new Error(`random weights: no tensor named ${name}`);
      let data = cache.get(name);
      if (!data) {
        const random = seededRandom(nameSeed(name, seed));
        data = new Float32Array(spec.length);
        for (let i = 0; i < data.length; i++) data[i] = spec.center + spec.spread * (2 * random() - 1);
        cache.set(name, data);
      }
      return data;
    },
    mxfp4(layer: number, which: 'gate_up' | 'down'): Mxfp4Tensor {
      const { numExperts: E, hiddenSize: H, intermediateSize: I } = config;
      const random = seededRandom(nameSeed(`${layer}.${which}`, seed));
      return which === 'gate_up' ? randomMxfp4(E, 2 * I, H, random) : randomMxfp4(E, H, I, random);
    },
  };
}
