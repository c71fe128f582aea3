/**
 * An fp64 forward pass of gpt-oss written from the spec (§3-§4), used as the test oracle for the
 * ONNX graphs. Readability first: every step is a small named function working on Float64Arrays
 * (weights stay float32 in memory; every product and sum is accumulated in double).
 */
import type { GptOssConfig, YarnConfig } from '../../lib/model/config';
import { tensorNames, type WeightSource } from '../../lib/model/weights';
import { checkMxfp4Tensor, decodeMxfp4Expert } from './mxfp4';

/** Hard-coded in every reference implementation (spec §1.1); kept local so the oracle is independent. */
export const SWIGLU_ALPHA = 1.702;

/** 'exact': OpenAI's YaRN band edges; 'llamacpp': edges floored/ceiled as llama.cpp does (spec §8). */
export type YarnMode = 'exact' | 'llamacpp';

/** log(sum(exp(logits))) in float64, stably (the largest logit taken out first). */
export function logSumExp64(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** log-softmax of logits, in float64. */
export function logSoftmax64(logits: ArrayLike<number>): Float64Array {
  const lse = logSumExp64(logits);
  return Float64Array.from(logits, (z) => z - lse);
}

export interface ReferenceOptions {
  yarn?: YarnMode;
  /** Positions whose logits are computed (lm_head is the expensive part); default: the last one. */
  logitsAt?: 'all' | 'last' | number[];
}

export interface LayerTrace {
  /** [t] raw router logits, length E. */
  routerLogits: Float64Array[];
  /** [t] the k selected experts, descending router logit (ties: lower id first). */
  topExperts: number[][];
  /** [t] softmax over the k selected logits, aligned with topExperts. */
  expertWeights: Float64Array[];
  /** [t][h] attention probabilities over keys 0..t after dropping the sink (0 where masked). */
  attentionProbs: Float64Array[][];
  /** [t] probability the sink took, per query head (length H). */
  sinkMass: Float64Array[];
}

export interface ReferenceResult {
  /** [t] logits over the vocabulary, or null where not requested. */
  logits: (Float64Array | null)[];
  layers: LayerTrace[];
}

type Vector = Float64Array;
type Matrix = Float32Array | Float64Array;

// ---------------------------------------------------------------- linear algebra

/** y = W·x + b with W stored [rows, cols] row-major ([out, in]). */
export function matVec(weight: Matrix, rows: number, cols: number, x: Vector, bias?: Float32Array | Float64Array): Vector {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = bias ? bias[r] : 0;
    const offset = r * cols;
    for (let c = 0; c < cols; c++) sum += weight[offset + c] * x[c];
    y[r] = sum;
  }
  return y;
}

function dot(a: Vector, b: Vector): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function addInto(target: Vector, addend: Vector, weight = 1): void {
  for (let i = 0; i < target.length; i++) target[i] += weight * addend[i];
}

function softmax(values: Vector): Vector {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

// ---------------------------------------------------------------- §4.3 RMSNorm

/** y = x / sqrt(mean(x²) + eps) ⊙ w; no 1+w offset, no bias. */
export function rmsNorm(x: Vector, weight: Float32Array | Float64Array, eps: number): Vector {
  const meanSquare = dot(x, x) / x.length;
  const inverseRms = 1 / Math.sqrt(meanSquare + eps);
  return x.map((v, i) => v * inverseRms * weight[i]);
}

// ---------------------------------------------------------------- §4.4 YaRN RoPE

export interface RopeTables {
  /** f_i for pair i in [0, headDim/2). */
  frequencies: Vector;
  /** YaRN concentration c, multiplying both cos and sin. */
  concentration: number;
  bandLow: number;
  bandHigh: number;
}

/** The dimension-pair index at which a frequency completes `rotations` turns over the original context. */
function correctionPair(rotations: number, headDim: number, base: number, originalContext: number): number {
  return ((headDim / 2) * Math.log(originalContext / (2 * Math.PI * rotations))) / Math.log(base);
}

export function yarnFrequencies(headDim: number, base: number, yarn: YarnConfig, mode: YarnMode = 'exact'): RopeTables {
  const pairs = headDim / 2;
  let bandLow = correctionPair(yarn.betaFast, headDim, base, yarn.originalMaxPositionEmbeddings);
  let bandHigh = correctionPair(yarn.betaSlow, headDim, base, yarn.originalMaxPositionEmbeddings);
  if (mode === 'llamacpp') {
    bandLow = Math.max(Math.floor(bandLow), 0);
    bandHigh = Math.min(Math.ceil(bandHigh), pairs - 1);
  }
  // A zero-width band would divide by zero; transformers widens it by 0.001 the same way.
  const bandWidth = bandHigh === bandLow ? 0.001 : bandHigh - bandLow;
  const frequencies = new Float64Array(pairs);
  for (let i = 0; i < pairs; i++) {
    const original = base ** ((-2 * i) / headDim);
    const interpolationShare = Math.min(Math.max((i - bandLow) / bandWidth, 0), 1);
    frequencies[i] = (1 - interpolationShare) * original + interpolationShare * (original / yarn.factor);
  }
  const concentration = yarn.factor > 1 ? 0.1 * Math.log(yarn.factor) + 1 : 1;
  return { frequencies, concentration, bandLow, bandHigh };
}

/** NeoX half-split rotation of one head vector at `position`: dimension i pairs with i + d/2. */
export function applyRope(head: Vector, position: number, rope: RopeTables): Vector {
  const half = head.length / 2;
  const out = new Float64Array(head.length);
  for (let i = 0; i < half; i++) {
    const angle = position * rope.frequencies[i];
    const cos = rope.concentration * Math.cos(angle);
    const sin = rope.concentration * Math.sin(angle);
    out[i] = head[i] * cos - head[i + half] * sin;
    out[i + half] = head[i + half] * cos + head[i] * sin;
  }
  return out;
}

// ---------------------------------------------------------------- §4.4 attention with sinks

/** Causal, and on sliding layers only the query itself plus the previous window-1 keys. */
export function keyIsVisible(query: number, key: number, slidingWindow: number | null): boolean {
  return key <= query && (slidingWindow === null || query - key < slidingWindow);
}

/**
 * Softmax over the row of scores plus the sink logit, then drops the sink's share.
 * Masked keys carry -Infinity and get probability 0.
 */
export function attentionWithSinks(scores: Vector, sink: number): { probabilities: Vector; sinkMass: number } {
  const max = Math.max(sink, ...scores);
  const keyExps = scores.map((s) => Math.exp(s - max));
  const sinkExp = Math.exp(sink - max);
  const total = keyExps.reduce((a, b) => a + b, 0) + sinkExp;
  return { probabilities: keyExps.map((e) => e / total), sinkMass: sinkExp / total };
}

function headSlice(vector: Vector, head: number, headDim: number): Vector {
  return vector.subarray(head * headDim, (head + 1) * headDim);
}

interface AttentionWeights {
  q: Float32Array; qBias: Float32Array;
  k: Float32Array; kBias: Float32Array;
  v: Float32Array; vBias: Float32Array;
  o: Float32Array; oBias: Float32Array;
  sinks: Float32Array;
}

interface AttentionOutput {
  outputs: Vector[];
  probabilities: Vector[][];
  sinkMass: Vector[];
}

/** Self-attention over the whole sequence of normalized inputs for one layer. */
export function attention(
  inputs: Vector[],
  weights: AttentionWeights,
  config: GptOssConfig,
  rope: RopeTables,
  slidingWindow: number | null,
): AttentionOutput {
  const { hiddenSize, numHeads, numKvHeads, headDim } = config;
  const queriesPerKvHead = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const project = (x: Vector, w: Float32Array, b: Float32Array, heads: number) => matVec(w, heads * headDim, hiddenSize, x, b);
  const rotateHeads = (flat: Vector, heads: number, position: number) =>
    Array.from({ length: heads }, (_, h) => applyRope(headSlice(flat, h, headDim), position, rope));

  const queries = inputs.map((x, t) => rotateHeads(project(x, weights.q, weights.qBias, numHeads), numHeads, t));
  const keys = inputs.map((x, t) => rotateHeads(project(x, weights.k, weights.kBias, numKvHeads), numKvHeads, t));
  const values = inputs.map((x) => project(x, weights.v, weights.vBias, numKvHeads));

  const result: AttentionOutput = { outputs: [], probabilities: [], sinkMass: [] };
  for (let t = 0; t < inputs.length; t++) {
    const concatenated = new Float64Array(numHeads * headDim);
    const headProbabilities: Vector[] = [];
    const sinkMass = new Float64Array(numHeads);
    for (let h = 0; h < numHeads; h++) {
      const kvHead = Math.floor(h / queriesPerKvHead);
      const scores = new Float64Array(t + 1);
      for (let j = 0; j <= t; j++) {
        scores[j] = keyIsVisible(t, j, slidingWindow) ? dot(queries[t][h], keys[j][kvHead]) * scale : -Infinity;
      }
      const { probabilities, sinkMass: mass } = attentionWithSinks(scores, weights.sinks[h]);
      const headOutput = concatenated.subarray(h * headDim, (h + 1) * headDim);
      for (let j = 0; j <= t; j++) {
        if (probabilities[j] !== 0) addInto(headOutput, headSlice(values[j], kvHead, headDim), probabilities[j]);
      }
      headProbabilities.push(probabilities);
      sinkMass[h] = mass;
    }
    result.outputs.push(matVec(weights.o, hiddenSize, numHeads * headDim, concatenated, weights.oBias));
    result.probabilities.push(headProbabilities);
    result.sinkMass.push(sinkMass);
  }
  return result;
}

// ---------------------------------------------------------------- §4.5 router

export interface Routing {
  logits: Vector;
  experts: number[];
  weights: Vector;
}

/** Top-k of the raw router logits, then softmax over only those k. */
export function router(x: Vector, weight: Float32Array, bias: Float32Array, numExperts: number, k: number): Routing {
  const logits = matVec(weight, numExperts, x.length, x, bias);
  const experts = Array.from({ length: numExperts }, (_, e) => e)
    .sort((a, b) => logits[b] - logits[a] || a - b)
    .slice(0, k);
  const weights = softmax(Float64Array.from(experts, (e) => logits[e]));
  return { logits, experts, weights };
}

// ---------------------------------------------------------------- §4.6 experts

export interface ExpertWeights {
  /** [2I, H]; even rows gate, odd rows linear. */
  gateUp: Matrix;
  gateUpBias: Float32Array | Float64Array;
  /** [H, I]. */
  down: Matrix;
  downBias: Float32Array | Float64Array;
}

/** gate clamped from above only, linear clamped both ways, "+1" on the linear branch. */
export function clampedSwiglu(gate: number, linear: number, limit: number): number {
  const g = Math.min(gate, limit);
  const l = Math.min(Math.max(linear, -limit), limit);
  const sigmoid = 1 / (1 + Math.exp(-SWIGLU_ALPHA * g));
  return g * sigmoid * (l + 1);
}

export function expert(x: Vector, weights: ExpertWeights, intermediateSize: number, limit: number): Vector {
  const hiddenSize = x.length;
  const gateUp = matVec(weights.gateUp, 2 * intermediateSize, hiddenSize, x, weights.gateUpBias);
  const activated = new Float64Array(intermediateSize);
  for (let i = 0; i < intermediateSize; i++) activated[i] = clampedSwiglu(gateUp[2 * i], gateUp[2 * i + 1], limit);
  return matVec(weights.down, hiddenSize, intermediateSize, activated, weights.downBias);
}

/** Σ over the selected experts of routing weight × expert output (each expert adds its own bias). */
export function moe(x: Vector, routing: Routing, expertWeights: (e: number) => ExpertWeights, intermediateSize: number, limit: number): Vector {
  const out = new Float64Array(x.length);
  routing.experts.forEach((e, slot) => addInto(out, expert(x, expertWeights(e), intermediateSize, limit), routing.weights[slot]));
  return out;
}

// ---------------------------------------------------------------- weights

/** Reads a dense tensor and checks its length, naming the tensor when it is wrong. */
function denseTensor(source: WeightSource, name: string, expectedLength: number): Float32Array {
  const data = source.dense(name);
  if (data.length !== expectedLength) {
    throw new Error(`reference forward: tensor ${name} has ${data.length} values, expected ${expectedLength}`);
  }
  return data;
}

interface LayerWeights {
  inputNorm: Float32Array;
  attention: AttentionWeights;
  postAttnNorm: Float32Array;
  routerWeight: Float32Array;
  routerBias: Float32Array;
  expert: (e: number) => ExpertWeights;
}

function loadLayer(source: WeightSource, layer: number): LayerWeights {
  const c = source.config;
  const names = tensorNames.layer(layer);
  const qWidth = c.numHeads * c.headDim;
  const kvWidth = c.numKvHeads * c.headDim;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const E = c.numExperts;

  const gateUpRaw = source.mxfp4(layer, 'gate_up');
  const downRaw = source.mxfp4(layer, 'down');
  checkMxfp4Tensor(gateUpRaw, names.gateUpBlocks);
  checkMxfp4Tensor(downRaw, names.downBlocks);
  const expectShape = (shape: number[], expected: number[], what: string) => {
    if (shape.join() !== expected.join()) throw new Error(`reference forward: ${what} has shape [${shape}], expected [${expected}]`);
  };
  expectShape(gateUpRaw.shape, [E, 2 * I, H], names.gateUpBlocks);
  expectShape(downRaw.shape, [E, H, I], names.downBlocks);
  const gateUpBias = denseTensor(source, names.gateUpBias, E * 2 * I);
  const downBias = denseTensor(source, names.downBias, E * H);

  const decoded = new Map<number, ExpertWeights>();
  const expertWeights = (e: number): ExpertWeights => {
    let weights = decoded.get(e);
    if (!weights) {
      weights = {
        gateUp: decodeMxfp4Expert(gateUpRaw, e),
        gateUpBias: gateUpBias.subarray(e * 2 * I, (e + 1) * 2 * I),
        down: decodeMxfp4Expert(downRaw, e),
        downBias: downBias.subarray(e * H, (e + 1) * H),
      };
      decoded.set(e, weights);
    }
    return weights;
  };

  return {
    inputNorm: denseTensor(source, names.inputNorm, H),
    attention: {
      q: denseTensor(source, names.qWeight, qWidth * H), qBias: denseTensor(source, names.qBias, qWidth),
      k: denseTensor(source, names.kWeight, kvWidth * H), kBias: denseTensor(source, names.kBias, kvWidth),
      v: denseTensor(source, names.vWeight, kvWidth * H), vBias: denseTensor(source, names.vBias, kvWidth),
      o: denseTensor(source, names.oWeight, H * qWidth), oBias: denseTensor(source, names.oBias, H),
      sinks: denseTensor(source, names.sinks, c.numHeads),
    },
    postAttnNorm: denseTensor(source, names.postAttnNorm, H),
    routerWeight: denseTensor(source, names.routerWeight, E * H),
    routerBias: denseTensor(source, names.routerBias, E),
    expert: expertWeights,
  };
}

// ---------------------------------------------------------------- §4.1-§4.7 whole model

function logitPositions(option: ReferenceOptions['logitsAt'], length: number): Set<number> {
  if (option === 'all') return new Set(Array.from({ length }, (_, t) => t));
  if (option === undefined || option === 'last') return new Set([length - 1]);
  for (const t of option) {
    if (!Number.isInteger(t) || t < 0 || t >= length) throw new Error(`reference forward: logitsAt position ${t} is outside 0..${length - 1}`);
  }
  return new Set(option);
}

function checkTokens(tokens: readonly number[], vocabSize: number): void {
  if (tokens.length === 0) throw new Error('reference forward: no tokens given');
  tokens.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`reference forward: token ${id} at position ${t} is outside the vocabulary 0..${vocabSize - 1}`);
    }
  });
}

export function referenceForward(source: WeightSource, tokens: readonly number[], options: ReferenceOptions = {}): ReferenceResult {
  const config = source.config;
  const { hiddenSize: H, vocabSize: V } = config;
  checkTokens(tokens, V);
  const wantLogits = logitPositions(options.logitsAt, tokens.length);
  const rope = yarnFrequencies(config.headDim, config.ropeTheta, config.yarn, options.yarn ?? 'exact');

  const embedding = denseTensor(source, tensorNames.embed, V * H);
  let hidden: Vector[] = tokens.map((id) => Float64Array.from(embedding.subarray(id * H, (id + 1) * H)));

  const layers: LayerTrace[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const weights = loadLayer(source, l);
    const slidingWindow = config.layerTypes[l] === 'sliding_attention' ? config.slidingWindow : null;

    const attentionInputs = hidden.map((x) => rmsNorm(x, weights.inputNorm, config.rmsNormEps));
    const attended = attention(attentionInputs, weights.attention, config, rope, slidingWindow);
    hidden = hidden.map((x, t) => {
      const next = Float64Array.from(x);
      addInto(next, attended.outputs[t]);
      return next;
    });

    const trace: LayerTrace = {
      routerLogits: [], topExperts: [], expertWeights: [],
      attentionProbs: attended.probabilities, sinkMass: attended.sinkMass,
    };
    for (const x of hidden) {
      const moeInput = rmsNorm(x, weights.postAttnNorm, config.rmsNormEps);
      const routing = router(moeInput, weights.routerWeight, weights.routerBias, config.numExperts, config.expertsPerToken);
      addInto(x, moe(moeInput, routing, weights.expert, config.intermediateSize, config.swigluLimit));
      trace.routerLogits.push(routing.logits);
      trace.topExperts.push(routing.experts);
      trace.expertWeights.push(routing.weights);
    }
    layers.push(trace);
  }

  const finalNorm = denseTensor(source, tensorNames.finalNorm, H);
  const lmHead = wantLogits.size > 0 ? denseTensor(source, tensorNames.lmHead, V * H) : null;
  const logits = hidden.map((x, t) =>
    lmHead && wantLogits.has(t) ? matVec(lmHead, V, H, rmsNorm(x, finalNorm, config.rmsNormEps)) : null,
  );
  return { logits, layers };
}
