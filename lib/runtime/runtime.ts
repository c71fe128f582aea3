/**
 * The instrumented gpt-oss runtime: onnxruntime-node sessions over the fused graph from kernels/,
 * a KV cache carried across decode steps, chunked prefill, sampling and capture.
 */
import os from 'node:os';
import path from 'node:path';
import type ort from 'onnxruntime-node';
import { buildGptOssGraph, createSession, defaultDevice, deviceLabel, webGpuAdapter, LOGITS, LOGITS_LOGSUMEXP, DEFAULT_ATTENTION_TOP_K, emptyKvCache, forwardFeeds, nextKvCache, type CaptureSelection, type Device, type GraphIo, type KvCache } from '../../kernels';
import { loadNativeKernels, type ExpertInputs, type NativeKernels } from '../../kernels/native';
import type { Precision } from '../../kernels/layers';
import { parseTokens } from '../harmony/parser';
import { STOP_TOKENS } from '../harmony/tokenizer';
import { configHash } from '../model/config';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint';
import type { RunResult, SamplingParams, StopReason } from '../trace/types';
import { AttentionRecorder, RoutingRecorder, type TapReader } from './capture';
import { LayeredForward, nativeUnsupportedReason, NativeWeights, type ForwardResult } from './native-forward';
import { type KnownLogitStats, Sampler, SeededRandom } from './sampler';
import { DEFAULT_SAMPLING, type CaptureOptions, type ExpertPath, type GenerateRequest, type Runtime, type RuntimeOptions } from './types';

export class RuntimeInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeInputError';
  }
}

export class CancelledError extends Error {
  constructor() {
    super('generation cancelled');
    this.name = 'CancelledError';
  }
}

/**
 * The graph a capture mode runs on. Capture off shares the routing graph: its routing taps are a
 * few tiny TopK/Softmax nodes, while every extra session holds its own copy of the embedding,
 * lm_head and experts (about 1.6 GB for the small checkpoint).
 */
function graphCapture(capture: CaptureOptions): CaptureSelection {
  return { routing: capture.routing || !capture.attention, attention: capture.attention, attentionTopK: capture.attentionTopK ?? DEFAULT_ATTENTION_TOP_K };
}

function captureKey(capture: CaptureSelection): string {
  return `${capture.routing ? 'r' : ''}${capture.attention ? `a${capture.attentionTopK}` : ''}`;
}

/** One capture mode's way of running a forward pass: a whole-model graph, or per-layer graphs with native experts. */
/** A forward engine over its own kind of KV cache (onnxruntime tensors, or the native path's buffers). */
interface Engine<Cache = unknown> {
  emptyCache(): Cache;
  /** Runs `ids` at positions past..past+S-1 and returns the cache extended by them (possibly the same object). */
  forward(ids: readonly number[], past: number, cache: Cache): Promise<ForwardResult & { cache: Cache }>;
  /** Frees a cache that will not be fed again (GPU buffers on WebGPU). */
  releaseCache(cache: Cache): void;
  release(): Promise<void>;
}

/** Frees KV tensors that live on the GPU (IO binding); CPU tensors are left to the garbage collector. */
function releaseDeviceCache(cache: KvCache): void {
  for (const tensor of Object.values(cache)) if (tensor.location === 'gpu-buffer') tensor.dispose();
}

/** The present KV outputs: kept on the GPU between decode steps when the graph runs on WebGPU. */
export function kvCacheOutputs(io: GraphIo): string[] {
  return io.kvCache.flatMap((kv) => [kv.presentKey, kv.presentValue]);
}

/** The whole model as one graph (fp32 or int8 experts inside onnxruntime, on the CPU or WebGPU provider). */
function graphEngine(session: ort.InferenceSession, io: GraphIo, native: NativeKernels | null): Engine<KvCache> {
  return {
    emptyCache: () => emptyKvCache(io),
    async forward(ids, _past, cache) {
      const outputs = await session.run(forwardFeeds(io, ids, cache));
      releaseDeviceCache(cache);
      const read: TapReader = (tap) => {
        const tensor = outputs[tap];
        if (!tensor) throw new Error(`graph output ${tap} is missing`);
        return { data: tensor.data as Float32Array | BigInt64Array, dims: tensor.dims };
      };
      const logits = outputs[LOGITS].data as Float32Array;
      // The graph's float32 log-sum-exp over 201k logits is off by up to ~4e-4; float64 when the native kernels are there.
      const graphLogSumExp = outputs[LOGITS_LOGSUMEXP]?.data as Float32Array | undefined;
      const stats = native ? native.logitStats(logits) : { logSumExp: graphLogSumExp?.[graphLogSumExp.length - 1] };
      return { logits, stats, read, cache: nextKvCache(io, outputs) };
    },
    releaseCache: releaseDeviceCache,
    release: () => session.release(),
  };
}

/**
 * The expert path: native MXFP4 when asked for or by default when the native kernels load and
 * pass their self-test; otherwise int8 QMoE, saying why. An explicit 'mxfp4' that cannot run is an error.
 */
export function chooseExpertPath(
  checkpoint: Checkpoint,
  requested: ExpertPath | undefined,
  device: Device = 'cpu',
): { path: ExpertPath; native: NativeKernels | null; fallbackReason: string | null } {
  if (device === 'webgpu') {
    if (requested === 'mxfp4') throw new RuntimeInputError('native MXFP4 experts run on the CPU only: use --experts int8 or float with --device webgpu');
    return { path: requested ?? FALLBACK_EXPERTS, native: null, fallbackReason: null };
  }
  const load = loadNativeKernels();
  const native = load.ok ? load.kernels : null;
  if (requested === 'float' || requested === 'int8') return { path: requested, native, fallbackReason: null };
  const reason = load.ok ? nativeUnsupportedReason(checkpoint) : load.reason;
  if (reason === null) return { path: 'mxfp4', native, fallbackReason: null };
  if (requested === 'mxfp4') throw new RuntimeInputError(`native MXFP4 experts are not available: ${reason}`);
  return { path: FALLBACK_EXPERTS, native, fallbackReason: `native MXFP4 experts are not available (${reason}); using int8 QMoE experts` };
}

/** A run's device label: where it ran, then each lossy arithmetic choice, so its traces say how they were computed. */
export function computedOn(device: string, precision: Precision, expertInputs: ExpertInputs): string {
  const lossy = [precision === 'fp16' ? 'fp16' : null, expertInputs === 'q8' ? 'q8 expert inputs' : null];
  return [device, ...lossy.filter((choice) => choice !== null)].join(', ');
}

/** Validates token ids before anything runs: a bad id must never reach a Gather. */
export function validatePromptIds(ids: readonly number[], vocabSize: number, maxSequence: number): void {
  if (ids.length === 0) throw new RuntimeInputError('prompt is empty: at least one token id is needed');
  ids.forEach((id, index) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RuntimeInputError(`token id ${id} at index ${index} is outside the vocabulary [0, ${vocabSize})`);
    }
  });
  if (ids.length >= maxSequence) {
    throw new RuntimeInputError(`prompt of ${ids.length} tokens does not fit the context of ${maxSequence} tokens (at least one must be left to generate)`);
  }
}

/**
 * The expert kernel when the native MXFP4 kernels are unavailable: int8 QMoE blocks are lossless
 * for MXFP4, a quarter of float32's memory, and measured faster at decode on the small checkpoint
 * (26.1 vs 27.2 ms/step with 1 thread, 16.6 vs 19.2 with 2; interleaved A/B).
 */
export const FALLBACK_EXPERTS = 'int8' satisfies ExpertPath;

/**
 * Attention capture makes the fused kernel materialise [heads, chunk, total] probabilities per
 * layer; chunks are shrunk so that stays under ~64 MiB however long the sequence gets.
 */
export function attentionChunkSize(start: number, prefillChunk: number, numHeads: number): number {
  const budget = 64 * 1024 * 1024;
  let size = prefillChunk;
  while (size > 1 && numHeads * size * (start + size) * 4 > budget) size >>= 1;
  return size;
}

export async function loadRuntime(modelDir: string, options: RuntimeOptions = {}): Promise<Runtime> {
  const device = options.device ?? defaultDevice();
  const precision = options.precision ?? 'fp32';
  if (precision !== 'fp32' && device !== 'webgpu') throw new RuntimeInputError(`precision ${precision} is for the WebGPU device; the CPU path computes in fp32`);
  // The environment before the checkpoint: no adapter is an error whatever the model.
  const adapter = device === 'webgpu' ? await webGpuAdapter() : null;
  const checkpoint = openCheckpoint(modelDir);
  const config = checkpoint.config;
  const threads = options.threads ?? os.availableParallelism();
  const prefillChunk = options.prefillChunk ?? 256;
  const maxSequence = Math.min(options.maxSequence ?? 8192, config.maxPositionEmbeddings);
  const yarn = options.yarn ?? 'exact';

  let expertChoice: ReturnType<typeof chooseExpertPath>;
  try {
    expertChoice = chooseExpertPath(checkpoint, options.experts, device);
  } catch (error) {
    checkpoint.close();
    throw error;
  }
  const { path: experts, native, fallbackReason } = expertChoice;
  if (fallbackReason) console.warn(`cotscope: ${fallbackReason}`);
  const expertInputs = options.expertInputs ?? 'f32';
  if (expertInputs === 'q8' && experts !== 'mxfp4') {
    checkpoint.close();
    throw new RuntimeInputError(`q8 expert inputs need the native MXFP4 experts; this run uses ${experts} experts${fallbackReason ? ` (${fallbackReason})` : ''}`);
  }
  const nativeWeights = experts === 'mxfp4' && native ? NativeWeights.open(checkpoint, native) : null;
  const sessions = new Map<string, Promise<Engine>>();
  const name = path.basename(path.resolve(modelDir));
  const deviceName = computedOn(deviceLabel(device, adapter), precision, expertInputs);
  let closed = false;

  const sessionFor = (capture: CaptureOptions) => {
    const selection = graphCapture(capture);
    const key = captureKey(selection);
    let entry = sessions.get(key);
    if (!entry) {
      if (nativeWeights) {
        entry = LayeredForward.create(checkpoint, nativeWeights, { capture: selection, yarn, maxPositions: maxSequence, threads, expertInputs });
      } else {
        const graph = buildGptOssGraph(checkpoint, {
          variant: 'fused',
          ops: device === 'webgpu' ? 'standard' : 'contrib',
          precision,
          capture: selection,
          logits: 'last',
          yarn,
          experts: experts === 'float' ? 'float' : 'int8',
          maxPositions: maxSequence,
        });
        // Only the IO contract is kept: the model bytes and initializers are ORT's copy from here on.
        const io = graph.io;
        entry = createSession(graph, { threads, device, deviceOutputs: kvCacheOutputs(io) }).then((session) => graphEngine(session, io, native));
      }
      sessions.set(key, entry);
    }
    return entry;
  };

  /** A KV cache (the engine's own kind) and its length; the engine returns the cache to use next after every forward pass. */
  interface Sequence {
    length: number;
    kv: unknown;
  }

  /** One forward pass over `ids` at positions sequence.length.., advancing the sequence. */
  const forward = async (engine: Engine, sequence: Sequence, ids: number[]) => {
    // A native decode step awaits nothing: without this turn of the event loop, signals, aborts
    // and the app's requests would wait for the whole generation.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (native) native.setThreads(threads);
    const { cache, ...result } = await engine.forward(ids, sequence.length, sequence.kv);
    sequence.kv = cache;
    sequence.length += ids.length;
    return result;
  };

  const generate = async (request: GenerateRequest): Promise<RunResult> => {
    if (closed) throw new Error('runtime is closed');
    const sampling: SamplingParams = { ...DEFAULT_SAMPLING, ...request.sampling };
    // Validates temperature and top-p before any session is built.
    const sampler = new Sampler(sampling, new SeededRandom(sampling.seed));
    if (!Number.isInteger(sampling.maxNewTokens) || sampling.maxNewTokens < 1) {
      throw new RuntimeInputError(`max new tokens must be a positive integer (got ${sampling.maxNewTokens})`);
    }
    validatePromptIds(request.promptIds, config.vocabSize, maxSequence);
    const capture = request.capture ?? { routing: false, attention: false };
    const attentionTopK = capture.attentionTopK ?? DEFAULT_ATTENTION_TOP_K;
    if (!Number.isInteger(attentionTopK) || attentionTopK < 1) throw new RuntimeInputError(`attention top-k must be a positive integer (got ${attentionTopK})`);
    const signal = request.signal;
    const stopTokens = request.stopTokens ?? STOP_TOKENS;
    const throwIfAborted = () => {
      if (signal?.aborted) throw new CancelledError();
    };

    const session = await sessionFor(capture);
    const routing = capture.routing ? new RoutingRecorder(config.numLayers, config.numExperts, config.expertsPerToken) : null;
    const attention = capture.attention ? new AttentionRecorder(config.numLayers, config.numHeads, attentionTopK) : null;
    const record = (read: TapReader, rows: number) => {
      routing?.append(read, rows);
      attention?.append(read, rows);
    };

    const tokens = [...request.promptIds];
    const logprobs: number[] = [];
    const cache: Sequence = { length: 0, kv: session.emptyCache() };
    let stopReason: StopReason = 'max_tokens';
    try {

      const prefillStart = performance.now();
      let logits: Float32Array = new Float32Array(0);
      let stats: KnownLogitStats = {};
      try {
        for (let start = 0, size = 0; start < tokens.length; start += size) {
          throwIfAborted();
          size = attention ? attentionChunkSize(start, prefillChunk, config.numHeads) : prefillChunk;
          const chunk = tokens.slice(start, start + size);
          const pass = await forward(session, cache, chunk);
          record(pass.read, chunk.length);
          ({ logits, stats } = pass);
        }
      } catch (error) {
        if (error instanceof CancelledError) stopReason = 'cancelled';
        else throw error;
      }
      const prefillMs = performance.now() - prefillStart;

      const decodeStart = performance.now();
      let decodeSteps = 0;
      while (stopReason !== 'cancelled') {
        if (signal?.aborted) {
          stopReason = 'cancelled';
          break;
        }
        const { token: next, logprob } = sampler.pick(logits, stats, tokens.length - 1);
        tokens.push(next);
        logprobs.push(logprob);
        const index = tokens.length - 1;
        request.onToken?.({ index, token: next, logprob, ...(routing ? routing.tokenRouting(index - 1) : {}) });
        if (stopTokens.includes(next)) {
          stopReason = 'stop_token';
          break;
        }
        if (logprobs.length >= sampling.maxNewTokens) {
          stopReason = 'max_tokens';
          break;
        }
        if (tokens.length >= maxSequence) {
          stopReason = 'context_full';
          break;
        }
        const pass = await forward(session, cache, [next]);
        record(pass.read, 1);
        ({ logits, stats } = pass);
        decodeSteps++;
      }
      const decodeMs = performance.now() - decodeStart;

      // The last sampled token was never fed; one more pass gives it a capture row too, so capture
      // rows align one to one with `tokens`. (A prefill cut short by cancellation leaves fewer rows.)
      const pending = tokens.length - cache.length;
      if ((routing || attention) && pending === 1) {
        const pass = await forward(session, cache, tokens.slice(cache.length));
        record(pass.read, 1);
      }

      const prefilled = cache.length > 0 ? Math.min(request.promptIds.length, cache.length) : 0;
      return {
        model: { name, configHash: configHash(config) },
        device: deviceName,
        tokens,
        promptLength: request.promptIds.length,
        messages: parseTokens(tokens),
        logprobs,
        routing: routing?.finish() ?? null,
        attention: attention?.finish() ?? null,
        sampling,
        stopReason,
        timings: {
          prefillMs,
          decodeMs,
          prefillTokensPerSecond: prefillMs > 0 ? (prefilled / prefillMs) * 1000 : 0,
          decodeTokensPerSecond: decodeMs > 0 && decodeSteps > 0 ? (decodeSteps / decodeMs) * 1000 : 0,
        },
      };
    } finally {
      session.releaseCache(cache.kv);
    }
  };

  return {
    name,
    config,
    configHash: configHash(config),
    generated: checkpoint.generated !== null,
    experts,
    fallbackReason,
    device: deviceName,
    generate,
    async close() {
      closed = true;
      for (const entry of sessions.values()) await (await entry).release();
      sessions.clear();
      nativeWeights?.close();
      checkpoint.close();
    },
  };
}
