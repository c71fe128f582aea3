/**
 * The forward pass of the native MXFP4 path (ARCHITECTURE.md, "Native experts"). Per layer: native
 * input RMSNorm and q/k/v projections (bf16 GEMM with bias), attention (a prefill chunk: an
 * onnxruntime session for rotary and GroupQueryAttention with sinks, window and the attention taps,
 * kernels/layered.ts; one token: the native decode kernel, appending to the KV cache in place),
 * native o projection plus residual, post-attention norm, router and top-k, then the native MXFP4
 * experts; embedding, final norm and lm_head natively too. Every bf16
 * matrix and the expert blocks and scales are read straight from the memory-mapped safetensors
 * shards; biases, norms and sinks are decoded to float32 (they are small).
 */
import * as ort from 'onnxruntime-node';
import { attentionScale, blockName, buildLayerGraph, DEFAULT_ATTENTION_TOP_K, createSession, SEQLENS_K, TOTAL_SEQUENCE_LENGTH, type CaptureSelection, type LayerGraphIo } from '../../kernels';
import type { ExpertInputs, MappedFile, MoeCall, NativeKernels, WeightBytes } from '../../kernels/native';
import type { KnownLogitStats } from './sampler';
import type { Checkpoint } from '../model/checkpoint';
import { SWIGLU_ALPHA, type GptOssConfig } from '../model/config';
import { CheckpointError } from '../model/errors';
import { tensorNames } from '../model/weights';
import { tapNames, type TapReader } from './capture';
import { yarnRopeTables, type RopeTables, type YarnMode } from '../../kernels/yarn';
import { attentionTapsOf, NativeKvCache } from './native-attention';

/** What one forward pass returns to the generation loop. */
export interface ForwardResult {
  /** Logits of the last new token. */
  logits: Float32Array;
  /** What the engine computed of the logits already (the sampler computes the rest). */
  stats: KnownLogitStats;
  read: TapReader;
}

type Tap = ReturnType<TapReader>;

/** The matrices the native path reads as bf16 bytes, with their [rows, cols]; everything else may be any float dtype. */
function nativeBf16Matrices(config: GptOssConfig): { name: string; dims: [number, number] }[] {
  const { hiddenSize: H, vocabSize: V, numHeads, numKvHeads, headDim, numExperts: E } = config;
  const qWidth = numHeads * headDim;
  const kvWidth = numKvHeads * headDim;
  const layers = Array.from({ length: config.numLayers }, (_, l) => {
    const t = tensorNames.layer(l);
    return [
      { name: t.qWeight, dims: [qWidth, H] as [number, number] },
      { name: t.kWeight, dims: [kvWidth, H] as [number, number] },
      { name: t.vWeight, dims: [kvWidth, H] as [number, number] },
      { name: t.oWeight, dims: [H, qWidth] as [number, number] },
      { name: t.routerWeight, dims: [E, H] as [number, number] },
    ];
  });
  return [{ name: tensorNames.embed, dims: [V, H] }, ...layers.flat(), { name: tensorNames.lmHead, dims: [V, H] }];
}

/** Why this checkpoint cannot run on the native path, or null. */
export function nativeUnsupportedReason(checkpoint: Checkpoint): string | null {
  for (const { name } of nativeBf16Matrices(checkpoint.config)) {
    const dtype = checkpoint.entry(name).dtype;
    if (dtype !== 'BF16') return `${name} is ${dtype}; the native path reads it as BF16`;
  }
  return null;
}

/** One layer's expert weights, as the native MoE call takes them. */
type LayerExperts = Pick<MoeCall, 'gateUpBlocks' | 'gateUpScales' | 'gateUpBias' | 'downBlocks' | 'downScales' | 'downBias'>;

/** One layer's dense weights: bf16 matrices as mapped bytes, the small vectors as float32. */
interface LayerDense {
  inputNorm: Float32Array;
  q: WeightBytes;
  qBias: Float32Array;
  k: WeightBytes;
  kBias: Float32Array;
  v: WeightBytes;
  vBias: Float32Array;
  o: WeightBytes;
  oBias: Float32Array;
  postAttentionNorm: Float32Array;
  router: WeightBytes;
  routerBias: Float32Array;
  sinks: Float32Array;
}

/**
 * Checkpoint weights the native kernels read: shards mapped once, experts and bf16 matrices as
 * offsets into them, small tensors (biases, norms) decoded.
 */
export class NativeWeights {
  private constructor(
    readonly native: NativeKernels,
    private readonly files: MappedFile[],
    readonly experts: LayerExperts[],
    readonly dense: LayerDense[],
    readonly embed: WeightBytes,
    readonly lmHead: WeightBytes,
    readonly finalNorm: Float32Array,
  ) {}

  static open(checkpoint: Checkpoint, native: NativeKernels): NativeWeights {
    const mapped = new Map<string, MappedFile>();
    const ref = (name: string): WeightBytes => {
      const entry = checkpoint.entry(name);
      let file = mapped.get(entry.file);
      if (!file) {
        file = new native.MappedFile(entry.file);
        mapped.set(entry.file, file);
      }
      return { file, offset: entry.offset };
    };
    const bf16Shapes = new Map(nativeBf16Matrices(checkpoint.config).map(({ name, dims }) => [name, dims]));
    /** A bf16 matrix of the shape the kernels will read. */
    const matrix = (name: string): WeightBytes => {
      const { dtype, shape } = checkpoint.entry(name);
      const dims = bf16Shapes.get(name)!;
      if (dtype !== 'BF16' || shape.join() !== dims.join()) {
        throw new CheckpointError(`is ${dtype} [${shape.join(', ')}]; the native path reads BF16 [${dims.join(', ')}]`, { tensor: name });
      }
      return ref(name);
    };
    try {
      const experts = Array.from({ length: checkpoint.config.numLayers }, (_, l): LayerExperts => {
        const t = tensorNames.layer(l);
        return {
          gateUpBlocks: ref(t.gateUpBlocks),
          gateUpScales: ref(t.gateUpScales),
          gateUpBias: checkpoint.dense(t.gateUpBias),
          downBlocks: ref(t.downBlocks),
          downScales: ref(t.downScales),
          downBias: checkpoint.dense(t.downBias),
        };
      });
      const dense = Array.from({ length: checkpoint.config.numLayers }, (_, l): LayerDense => {
        const t = tensorNames.layer(l);
        return {
          inputNorm: checkpoint.dense(t.inputNorm),
          q: matrix(t.qWeight),
          qBias: checkpoint.dense(t.qBias),
          k: matrix(t.kWeight),
          kBias: checkpoint.dense(t.kBias),
          v: matrix(t.vWeight),
          vBias: checkpoint.dense(t.vBias),
          o: matrix(t.oWeight),
          oBias: checkpoint.dense(t.oBias),
          postAttentionNorm: checkpoint.dense(t.postAttnNorm),
          router: matrix(t.routerWeight),
          routerBias: checkpoint.dense(t.routerBias),
          sinks: checkpoint.dense(t.sinks),
        };
      });
      return new NativeWeights(native, [...mapped.values()], experts, dense, matrix(tensorNames.embed), matrix(tensorNames.lmHead), checkpoint.dense(tensorNames.finalNorm));
    } catch (error) {
      for (const file of mapped.values()) file.close();
      throw error;
    }
  }

  close(): void {
    for (const file of this.files) file.close();
  }
}

/**
 * Top-k experts by raw router logit (descending; equal logits: the lower id first, as
 * onnxruntime's TopK orders them) and the softmax over only those k logits (spec §4.5).
 */
export function selectExperts(logits: Float32Array, tokens: number, experts: number, k: number): { topk: BigInt64Array; weights: Float32Array } {
  const topk = new BigInt64Array(tokens * k);
  const weights = new Float32Array(tokens * k);
  const order = Array.from({ length: experts }, (_, e) => e);
  const exps = new Float64Array(k);
  for (let s = 0; s < tokens; s++) {
    const row = logits.subarray(s * experts, (s + 1) * experts);
    order.sort((a, b) => row[b] - row[a] || a - b);
    const top = row[order[0]];
    let sum = 0;
    for (let j = 0; j < k; j++) {
      exps[j] = Math.exp(row[order[j]] - top);
      sum += exps[j];
    }
    for (let j = 0; j < k; j++) {
      topk[s * k + j] = BigInt(order[j]);
      weights[s * k + j] = exps[j] / sum;
    }
  }
  return { topk, weights };
}

export interface LayeredSettings {
  capture: CaptureSelection;
  yarn: YarnMode;
  maxPositions: number;
  threads: number;
  expertInputs: ExpertInputs;
}

/** One set of per-layer sessions (one capture mode) over shared native weights. */
export class LayeredForward {
  private constructor(
    private readonly checkpoint: Checkpoint,
    private readonly weights: NativeWeights,
    private readonly sessions: ort.InferenceSession[],
    private readonly layers: LayerGraphIo[],
    readonly maxPositions: number,
    private readonly expertInputs: ExpertInputs,
    private readonly rope: RopeTables,
    private readonly capture: CaptureSelection,
  ) {}

  static async create(checkpoint: Checkpoint, weights: NativeWeights, settings: LayeredSettings): Promise<LayeredForward> {
    const sessions: ort.InferenceSession[] = [];
    const layers: LayerGraphIo[] = [];
    try {
      for (let l = 0; l < checkpoint.config.numLayers; l++) {
        const graph = buildLayerGraph(checkpoint, l, {
          attention: settings.capture.attention,
          attentionTopK: settings.capture.attentionTopK,
          yarn: settings.yarn,
          maxPositions: settings.maxPositions,
        });
        // Sessions are created one at a time so only one layer's graph bytes exist besides ORT's copy.
        sessions.push(await createSession(graph, { threads: settings.threads }));
        layers.push(graph.io);
      }
    } catch (error) {
      for (const session of sessions) await session.release();
      throw error;
    }
    const rope = yarnRopeTables(checkpoint.config, settings.maxPositions, settings.yarn);
    return new LayeredForward(checkpoint, weights, sessions, layers, settings.maxPositions, settings.expertInputs, rope, settings.capture);
  }

  emptyCache(): NativeKvCache {
    const { numLayers, numKvHeads, headDim } = this.checkpoint.config;
    return new NativeKvCache(numLayers, numKvHeads, headDim);
  }

  /** Runs `ids` at positions past..past+S-1; returns the new cache with the result. */
  async forward(ids: readonly number[], past: number, cache: NativeKvCache): Promise<ForwardResult & { cache: NativeKvCache }> {
    const { native, experts, dense, embed, lmHead, finalNorm } = this.weights;
    const config = this.checkpoint.config;
    const S = ids.length;
    const H = config.hiddenSize;
    const E = config.numExperts;
    const k = config.expertsPerToken;
    const eps = config.rmsNormEps;
    const qWidth = config.numHeads * config.headDim;
    const kvWidth = config.numKvHeads * config.headDim;
    const total = past + S;
    if (S === 0) throw new Error('forward pass needs at least one token');
    if (total > this.maxPositions) throw new Error(`sequence of ${total} exceeds maxPositions ${this.maxPositions}`);

    let hidden = new Float32Array(S * H);
    native.bf16GatherRows(embed, config.vocabSize, H, Int32Array.from(ids), hidden);
    const taps = new Map<string, Tap>();
    cache.reserve(total, past);
    for (let l = 0; l < this.layers.length; l++) {
      const io = this.layers[l];
      const w = dense[l];
      const name = (suffix: string) => `${blockName(l)}.${suffix}`;

      const attnNorm = new Float32Array(S * H);
      native.rmsNorm(hidden, w.inputNorm, S, H, eps, attnNorm);
      const q = new Float32Array(S * qWidth);
      const kk = new Float32Array(S * kvWidth);
      const v = new Float32Array(S * kvWidth);
      native.bf16Linear({
        x: attnNorm,
        tokens: S,
        cols: H,
        projections: [
          { weight: w.q, rows: qWidth, bias: w.qBias, out: q },
          { weight: w.k, rows: kvWidth, bias: w.kBias, out: kk },
          { weight: w.v, rows: kvWidth, bias: w.vBias, out: v },
        ],
      });
      const context = S === 1 ? this.decodeAttention(l, q, kk, v, past, cache, taps) : await this.prefillAttention(l, q, kk, v, past, cache, taps);

      // ffn_inp = hidden + (context o^T + o_bias): the residual stream after attention.
      const ffnInput = new Float32Array(S * H);
      native.bf16Linear({
        x: context,
        tokens: S,
        cols: qWidth,
        projections: [{ weight: w.o, rows: H, bias: w.oBias, residual: hidden, out: ffnInput }],
      });
      const ffnNorm = new Float32Array(S * H);
      native.rmsNorm(ffnInput, w.postAttentionNorm, S, H, eps, ffnNorm);
      const routerLogits = new Float32Array(S * E);
      native.bf16Linear({ x: ffnNorm, tokens: S, cols: H, projections: [{ weight: w.router, rows: E, bias: w.routerBias, out: routerLogits }] });
      const { topk, weights } = selectExperts(routerLogits, S, E, k);
      taps.set(name('ffn_inp'), { data: ffnInput, dims: [S, H] });
      taps.set(name('post_attention_norm'), { data: ffnNorm, dims: [S, H] });
      taps.set(tapNames.routerLogits(l), { data: routerLogits, dims: [S, E] });
      taps.set(tapNames.routerTopK(l), { data: topk, dims: [S, k] });
      taps.set(tapNames.routerWeights(l), { data: weights, dims: [S, k] });

      const next = new Float32Array(S * H);
      native.moe({
        tokens: S,
        hidden: H,
        intermediate: config.intermediateSize,
        experts: E,
        k,
        swigluLimit: config.swigluLimit,
        swigluAlpha: SWIGLU_ALPHA,
        ...experts[l],
        x: ffnNorm,
        ids: Int32Array.from(topk, Number),
        weights,
        residual: ffnInput,
        out: next,
        inputs: this.expertInputs,
      });
      hidden = next;
    }

    const normed = new Float32Array(H);
    native.rmsNorm(hidden.subarray((S - 1) * H), finalNorm, 1, H, eps, normed);
    const logits = new Float32Array(config.vocabSize);
    native.bf16MatMul(lmHead, config.vocabSize, H, normed, 1, logits);
    const read: TapReader = (tapName) => {
      const tap = taps.get(tapName);
      if (!tap) throw new Error(`layer output ${tapName} is missing`);
      return tap;
    };
    return { logits, stats: native.logitStats(logits), read, cache };
  }

  /** A prefill chunk's attention in the layer's onnxruntime session; its new KV rows go into the cache. */
  private async prefillAttention(l: number, q: Float32Array, k: Float32Array, v: Float32Array, past: number, cache: NativeKvCache, taps: Map<string, Tap>): Promise<Float32Array> {
    const io = this.layers[l];
    const S = q.length / (this.checkpoint.config.numHeads * this.checkpoint.config.headDim);
    const total = past + S;
    const pastKv = cache.pastTensors(l, past);
    const outputs = await this.sessions[l].run({
      [io.q]: new ort.Tensor('float32', q, [S, q.length / S]),
      [io.k]: new ort.Tensor('float32', k, [S, k.length / S]),
      [io.v]: new ort.Tensor('float32', v, [S, v.length / S]),
      [io.kv.pastKey]: pastKv.key,
      [io.kv.pastValue]: pastKv.value,
      [SEQLENS_K]: new ort.Tensor('int32', Int32Array.of(total - 1), [1]),
      [TOTAL_SEQUENCE_LENGTH]: new ort.Tensor('int32', Int32Array.of(total), []),
    });
    cache.storePresent(l, outputs[io.kv.presentKey].data as Float32Array, outputs[io.kv.presentValue].data as Float32Array, past, total);
    for (const output of io.outputs) taps.set(output, { data: outputs[output].data as Tap['data'], dims: outputs[output].dims });
    return outputs[io.context].data as Float32Array;
  }

  /** One token's attention in the native kernel, its key and value written into the cache in place. */
  private decodeAttention(l: number, q: Float32Array, k: Float32Array, v: Float32Array, position: number, cache: NativeKvCache, taps: Map<string, Tap>): Float32Array {
    const config = this.checkpoint.config;
    const { numHeads: heads, numKvHeads: kvHeads, headDim } = config;
    const { pairs } = this.rope;
    const context = new Float32Array(heads * headDim);
    const attention = this.layers[l].attention;
    const probs = attention ? new Float32Array(heads * (position + 1)) : undefined;
    this.weights.native.attentionDecode({
      heads,
      kvHeads,
      headDim,
      position,
      window: config.layerTypes[l] === 'sliding_attention' ? config.slidingWindow : 0,
      capacity: cache.capacity,
      scale: attentionScale(headDim),
      q,
      k,
      v,
      cos: this.rope.cos.subarray(position * pairs, (position + 1) * pairs),
      sin: this.rope.sin.subarray(position * pairs, (position + 1) * pairs),
      sinks: this.weights.dense[l].sinks,
      keys: cache.keys[l],
      values: cache.values[l],
      context,
      probs,
    });
    if (attention && probs) {
      const { sinkMass, topPositions, topWeights, kept } = attentionTapsOf(probs, heads, position + 1, this.capture.attentionTopK ?? DEFAULT_ATTENTION_TOP_K);
      taps.set(attention.sinkMass, { data: sinkMass, dims: [1, heads] });
      taps.set(attention.topPositions, { data: topPositions, dims: [1, heads, kept] });
      taps.set(attention.topWeights, { data: topWeights, dims: [1, heads, kept] });
    }
    return context;
  }

  /** The layer graphs run on the CPU: nothing to free. */
  releaseCache(): void {}

  async release(): Promise<void> {
    for (const session of this.sessions) await session.release();
  }
}
