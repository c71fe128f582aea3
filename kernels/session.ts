/**
 * onnxruntime-node sessions for built graphs, and feeds that follow the IO contract (kernels/io.ts).
 */
import * as ort from 'onnxruntime-node';
import { WEBGPU_POWER_PREFERENCE, type Device } from './device';
import { INPUT_IDS, SEQLENS_K, TOTAL_SEQUENCE_LENGTH, type GraphIo } from './io';
import type { BuiltModel } from './onnx';

export interface SessionSettings {
  /** Intra-op threads (default 1). */
  threads?: number;
  /**
   * ORT graph optimization. Default: 'extended' for fused graphs ('all' only adds layout
   * transforms for convolutions and measured 4-6% slower per decode step on the small
   * checkpoint), 'basic' (constant folding only) for standard-op graphs (the reference and the
   * WebGPU build), so ORT does not fuse them into its own contrib kernels.
   */
  optimization?: 'basic' | 'extended' | 'all';
  /** Execution provider (default 'cpu'). WebGPU graphs should use the 'standard' ops (kernels/model.ts FusedOps). */
  device?: Device;
  /** Outputs left on the device as 'gpu-buffer' tensors (WebGPU only): the KV cache between decode steps. */
  deviceOutputs?: readonly string[];
}

function executionProviders(device: Device): ort.InferenceSession.SessionOptions['executionProviders'] {
  // Validation 'basic' (the default) turns WebGPU errors into exceptions instead of crashes.
  return device === 'webgpu' ? [{ name: 'webgpu', validationMode: 'basic' }] : ['cpu'];
}

/** The KV cache stays on the GPU; everything else (taps, logits) comes back to the host. */
function outputLocations(settings: SessionSettings): Pick<ort.InferenceSession.SessionOptions, 'preferredOutputLocation'> {
  if (settings.device !== 'webgpu' || !settings.deviceOutputs?.length) return {};
  return { preferredOutputLocation: Object.fromEntries(settings.deviceOutputs.map((name) => [name, 'gpu-buffer'])) };
}

/** Graphs of standard ops only (the reference, the WebGPU build) must not be fused into contrib kernels. */
function isStandardOpsGraph(built: BuiltModel): boolean {
  return 'io' in built && (built as { io: GraphIo }).io.ops === 'standard';
}

export function sessionOptions(built: BuiltModel, settings: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  return {
    externalData: built.externalData,
    executionProviders: executionProviders(settings.device ?? 'cpu'),
    ...outputLocations(settings),
    intraOpNumThreads: settings.threads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: settings.optimization ?? (isStandardOpsGraph(built) ? 'basic' : 'extended'),
    // Spinning threads hurt when several sessions share two cores (platform notes).
    extra: {
      session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
      ep: { webgpuexecutionprovider: { powerPreference: WEBGPU_POWER_PREFERENCE } },
    },
  };
}

export function createSession(built: BuiltModel, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(built.model, sessionOptions(built, settings));
}

export type Feeds = Record<string, ort.Tensor>;

/** Per-layer past KV tensors, keyed by the graph's past.{l}.key/value input names. */
export type KvCache = Record<string, ort.Tensor>;

export function emptyKvCache(io: GraphIo): KvCache {
  const cache: KvCache = {};
  for (const kv of io.kvCache) {
    cache[kv.pastKey] = new ort.Tensor('float32', new Float32Array(0), [1, io.numKvHeads, 0, io.headDim]);
    cache[kv.pastValue] = new ort.Tensor('float32', new Float32Array(0), [1, io.numKvHeads, 0, io.headDim]);
  }
  return cache;
}

export function pastLength(io: GraphIo, cache: KvCache): number {
  if (io.kvCache.length === 0) return 0;
  return Number(cache[io.kvCache[0].pastKey].dims[2]);
}

/**
 * Feeds for one forward pass of `tokenIds` (S new tokens). Fused graphs need the KV cache of the P
 * earlier tokens; reference graphs take the whole sequence and no cache.
 */
export function forwardFeeds(io: GraphIo, tokenIds: readonly number[], cache: KvCache | null = null): Feeds {
  if (tokenIds.length === 0) throw new Error('forward pass needs at least one token');
  const feeds: Feeds = {
    [INPUT_IDS]: new ort.Tensor('int64', BigInt64Array.from(tokenIds.map(BigInt)), [1, tokenIds.length]),
  };
  if (io.variant === 'reference') {
    if (cache) throw new Error('the reference graph has no KV cache: feed the whole sequence');
    if (tokenIds.length > io.maxPositions) throw new Error(`sequence of ${tokenIds.length} exceeds maxPositions ${io.maxPositions}`);
    return feeds;
  }
  const past = cache ?? emptyKvCache(io);
  const total = pastLength(io, past) + tokenIds.length;
  if (total > io.maxPositions) throw new Error(`sequence of ${total} exceeds maxPositions ${io.maxPositions}`);
  Object.assign(feeds, past);
  feeds[SEQLENS_K] = new ort.Tensor('int32', Int32Array.from([total - 1]), [1]);
  feeds[TOTAL_SEQUENCE_LENGTH] = new ort.Tensor('int32', Int32Array.from([total]), []);
  return feeds;
}

/** The present KV outputs of a fused run, renamed as the next run's past inputs. */
export function nextKvCache(io: GraphIo, results: ort.InferenceSession.OnnxValueMapType): KvCache {
  const cache: KvCache = {};
  for (const kv of io.kvCache) {
    cache[kv.pastKey] = results[kv.presentKey] as ort.Tensor;
    cache[kv.pastValue] = results[kv.presentValue] as ort.Tensor;
  }
  return cache;
}
