/**
 * The runtime's public contract: what the CLI, store (batch capture) and app (live run) call.
 * Implementation: lib/runtime/runtime.ts (`loadRuntime`).
 */
import type { Device } from '../../kernels/device';
import type { Precision } from '../../kernels/layers';
import type { ExpertInputs } from '../../kernels/native';
import type { GptOssConfig } from '../model/config';
import type { RunResult, SamplingParams } from '../trace/types';

export type ExpertPath = 'mxfp4' | 'int8' | 'float';

export interface CaptureOptions {
  routing: boolean;
  attention: boolean;
  /** Attended positions kept per head (default 8). */
  attentionTopK?: number;
}

export const NO_CAPTURE: CaptureOptions = { routing: false, attention: false };

/** Streamed once per generated token, as soon as it is sampled. */
export interface TokenEvent {
  /** Index of the token in RunResult.tokens. */
  index: number;
  token: number;
  logprob: number;
  /** Routing of the forward pass that produced this token's logits (position index - 1), if captured: [L, k]. */
  experts?: number[][];
  weights?: number[][];
}

export interface GenerateRequest {
  /** Already rendered prompt token ids (lib/harmony renders conversations). */
  promptIds: number[];
  sampling?: Partial<SamplingParams>;
  capture?: CaptureOptions;
  signal?: AbortSignal;
  /** Generation ends after sampling one of these (default harmony's {<|return|>, <|call|>}). */
  stopTokens?: readonly number[];
  onToken?: (event: TokenEvent) => void;
}

export interface Runtime {
  readonly name: string;
  readonly config: GptOssConfig;
  readonly configHash: string;
  /** True for checkpoints written by lib/model/generate.ts (random weights). */
  readonly generated: boolean;
  /** The expert path in use. */
  readonly experts: ExpertPath;
  /** Why the native MXFP4 path is not used, when it was the default and could not run. */
  readonly fallbackReason: string | null;
  /** Where the graphs run: 'cpu' or 'webgpu (adapter name)'. */
  readonly device: string;
  generate(request: GenerateRequest): Promise<RunResult>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** onnxruntime intra-op threads (default: every core, os.availableParallelism()). */
  threads?: number;
  /** Prompt tokens per prefill chunk (default 256). */
  prefillChunk?: number;
  /** Maximum total sequence length served (default 8192). */
  maxSequence?: number;
  yarn?: 'exact' | 'llamacpp';
  /**
   * Expert weights: 'mxfp4' native kernels on the checkpoint's own bytes (default when they build
   * and pass their self-test), lossless int8 QMoE blocks (the fallback) or float32, both in onnxruntime.
   */
  experts?: ExpertPath;
  /**
   * Execution provider (default COTSCOPE_DEVICE, else 'cpu'). 'webgpu' runs the standard-op build of
   * the graph on the high-performance WebGPU adapter with the KV cache kept on the GPU; experts are
   * int8 blocks dequantized in the graph (folded to fp32 by onnxruntime at session creation) or
   * float; the native MXFP4 path is CPU-only.
   */
  device?: Device;
  /** WebGPU only: fp16 weights and arithmetic for the experts' and lm_head's matmuls (default fp32, for fidelity). */
  precision?: Precision;
  /**
   * Native MXFP4 experts only: 'q8' rounds the experts' inputs to 8-bit blocks as llama.cpp does
   * (faster decode; lossy, drift in the README); default 'f32', the exact path. Either lossy
   * choice is named in the run's device label, so its traces say how they were computed.
   */
  expertInputs?: ExpertInputs;
}

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 1, topP: 1, seed: 0, maxNewTokens: 256 };
