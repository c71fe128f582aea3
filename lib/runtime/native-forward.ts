/**
 * The forward pass with native MXFP4 experts (ARCHITECTURE.md, "Native experts"): per-layer ONNX
 * sessions for attention and the router (kernels/layered.ts), the native kernels between them
 * for the experts, and native bf16 embedding and lm_head. Expert blocks and scales, the
 * embedding and lm_head are read straight from the memory-mapped safetensors shards.
 */
import * as ort from 'onnxruntime-node';
import { buildLayerGraph, createSession, LAYER_HIDDEN_INPUT, SEQLENS_K, TOTAL_SEQUENCE_LENGTH, type CaptureSelection, type KvCache, type LayerGraphIo } from '../../kernels';
import type { MappedFile, MoeCall, NativeKernels, WeightBytes } from '../../kernels/native';
import type { Checkpoint } from '../model/checkpoint';
import { SWIGLU_ALPHA } from '../model/config';
import { tensorNames } from '../model/weights';
import type { TapReader } from './capture';
import type { YarnMode } from '../../kernels/yarn';

/** What one forward pass returns to the generation loop. */
export interface ForwardResult {
  /** Logits of the last new token. */
  logits: Float32Array;
  /** log(sum(exp(logits))), when the engine computed it. */
  logSumExp: number | undefined;
  read: TapReader;
}

/** The dense tensors the native path reads as bf16 bytes; everything else may be any float dtype. */
const NATIVE_BF16_TENSORS = [tensorNames.embed, tensorNames.lmHead];

/** Why this checkpoint cannot run on the native path, or null. */
export function nativeUnsupportedReason(checkpoint: Checkpoint): string | null {
  for (const name of NATIVE_BF16_TENSORS) {
    const dtype = checkpoint.entry(name).dtype;
    if (dtype !== 'BF16') return `${name} is ${dtype}; the native path reads it as BF16`;
  }
  return null;
}

/** One layer's expert weights, as the native MoE call takes them. */
type LayerExperts = Pick<MoeCall, 'gateUpBlocks' | 'gateUpScales' | 'gateUpBias' | 'downBlocks' | 'downScales' | 'downBias'>;

/**
 * Checkpoint weights the native kernels read: shards mapped once, experts and bf16 tables as
 * offsets into them, small tensors (biases, final norm) decoded.
 */
export class NativeWeights {
  private constructor(
    readonly native: NativeKernels,
    private readonly files: MappedFile[],
    readonly experts: LayerExperts[],
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
      return new NativeWeights(native, [...mapped.values()], experts, ref(tensorNames.embed), ref(tensorNames.lmHead), checkpoint.dense(tensorNames.finalNorm));
    } catch (error) {
      for (const file of mapped.values()) file.close();
      throw error;
    }
  }

  close(): void {
    for (const file of this.files) file.close();
  }
}

export interface LayeredSettings {
  capture: CaptureSelection;
  yarn: YarnMode;
  maxPositions: number;
  threads: number;
}

/** One set of per-layer sessions (one capture mode) over shared native weights. */
export class LayeredForward {
  private constructor(
    private readonly checkpoint: Checkpoint,
    private readonly weights: NativeWeights,
    private readonly sessions: ort.InferenceSession[],
    private readonly layers: LayerGraphIo[],
    readonly maxPositions: number,
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
    return new LayeredForward(checkpoint, weights, sessions, layers, settings.maxPositions);
  }

  emptyCache(): KvCache {
    const { numKvHeads, headDim } = this.checkpoint.config;
    const cache: KvCache = {};
    for (const { kv } of this.layers) {
      cache[kv.pastKey] = new ort.Tensor('float32', new Float32Array(0), [1, numKvHeads, 0, headDim]);
      cache[kv.pastValue] = new ort.Tensor('float32', new Float32Array(0), [1, numKvHeads, 0, headDim]);
    }
    return cache;
  }

  /** Runs `ids` at positions past..past+S-1; returns the new cache with the result. */
  async forward(ids: readonly number[], past: number, cache: KvCache): Promise<ForwardResult & { cache: KvCache }> {
    const { native, experts, embed, lmHead, finalNorm } = this.weights;
    const config = this.checkpoint.config;
    const S = ids.length;
    const H = config.hiddenSize;
    const total = past + S;
    if (S === 0) throw new Error('forward pass needs at least one token');
    if (total > this.maxPositions) throw new Error(`sequence of ${total} exceeds maxPositions ${this.maxPositions}`);

    let hidden = new Float32Array(S * H);
    native.bf16GatherRows(embed, config.vocabSize, H, Int32Array.from(ids), hidden);
    const positionFeeds = {
      [SEQLENS_K]: new ort.Tensor('int32', Int32Array.of(total - 1), [1]),
      [TOTAL_SEQUENCE_LENGTH]: new ort.Tensor('int32', Int32Array.of(total), []),
    };
    const taps = new Map<string, ort.Tensor>();
    const nextCache: KvCache = {};
    for (let l = 0; l < this.layers.length; l++) {
      const io = this.layers[l];
      const outputs = await this.sessions[l].run({
        [LAYER_HIDDEN_INPUT]: new ort.Tensor('float32', hidden, [S, H]),
        [io.kv.pastKey]: cache[io.kv.pastKey],
        [io.kv.pastValue]: cache[io.kv.pastValue],
        ...positionFeeds,
      });
      nextCache[io.kv.pastKey] = outputs[io.kv.presentKey];
      nextCache[io.kv.pastValue] = outputs[io.kv.presentValue];
      for (const name of io.outputs) taps.set(name, outputs[name]);
      const topk = outputs[io.routing.topk].data as BigInt64Array;
      const next = new Float32Array(S * H);
      native.moe({
        tokens: S,
        hidden: H,
        intermediate: config.intermediateSize,
        experts: config.numExperts,
        k: config.expertsPerToken,
        swigluLimit: config.swigluLimit,
        swigluAlpha: SWIGLU_ALPHA,
        ...experts[l],
        x: outputs[io.ffnNorm].data as Float32Array,
        ids: Int32Array.from(topk, Number),
        weights: outputs[io.routing.weights].data as Float32Array,
        residual: outputs[io.ffnInput].data as Float32Array,
        out: next,
      });
      hidden = next;
    }

    const normed = new Float32Array(H);
    native.rmsNorm(hidden.subarray((S - 1) * H), finalNorm, 1, H, config.rmsNormEps, normed);
    const logits = new Float32Array(config.vocabSize);
    native.bf16MatMul(lmHead, config.vocabSize, H, normed, 1, logits);
    const read: TapReader = (name) => {
      const tensor = taps.get(name);
      if (!tensor) throw new Error(`layer output ${name} is missing`);
      return { data: tensor.data as Float32Array | BigInt64Array, dims: tensor.dims };
    };
    return { logits, logSumExp: native.logSumExp(logits), read, cache: nextCache };
  }

  /** The layer graphs run on the CPU: nothing to free. */
  releaseCache(): void {}

  async release(): Promise<void> {
    for (const session of this.sessions) await session.release();
  }
}
