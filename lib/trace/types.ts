/**
 * What one run of the runtime captured. Shared by runtime, CLI (`run --json`), store, UI and export.
 * Capture rows align with `tokens`: row t is the forward pass at position t (prompt and generated
 * tokens alike; the last sampled token is fed once more so it has a row too).
 */

export type HarmonyRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | string;

export interface TraceMessage {
  role: HarmonyRole;
  /** analysis (raw chain of thought), commentary, final, or whatever the model wrote; null when absent. */
  channel: string | null;
  recipient: string | null;
  contentType: string | null;
  content: string;
  /** Token span [tokenStart, tokenEnd) in `tokens`, from `<|start|>` through the terminator. */
  tokenStart: number;
  tokenEnd: number;
  /** False when the message was cut off (no terminator) or malformed; its tokens are still kept. */
  complete: boolean;
}

/** Per token, per layer routing. Flat row-major typed arrays. */
export interface RoutingCapture {
  numTokens: number;
  numLayers: number;
  numExperts: number;
  topK: number;
  /** [T, L, k] expert ids, in descending router-logit order. */
  experts: Uint8Array | Uint16Array;
  /** [T, L, k] softmax over the k selected logits. */
  weights: Float32Array;
  /** [T, L, E] raw router logits (before top-k). */
  logits: Float32Array;
}

/** Per token, per layer, per query head attention summary. */
export interface AttentionCapture {
  numTokens: number;
  numLayers: number;
  numHeads: number;
  /** Attended positions kept per head (default 8). */
  topK: number;
  /** [T, L, H] probability mass on the sink (1 - sum of attention weights over real positions). */
  sinkMass: Float32Array;
  /** [T, L, H, k] attended absolute positions, descending weight; -1 pads rows with fewer visible keys. */
  topPositions: Int32Array;
  /** [T, L, H, k] their attention probabilities (0 where padded). */
  topWeights: Float32Array;
}

export type CaptureKind = 'routing' | 'attention';

export interface SamplingParams {
  temperature: number;
  topP: number;
  seed: number;
  maxNewTokens: number;
}

export interface RunTimings {
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export type StopReason = 'stop_token' | 'max_tokens' | 'cancelled' | 'context_full';

export interface RunResult {
  model: { name: string; configHash: string };
  tokens: number[];
  promptLength: number;
  /** Messages of the whole sequence (prompt and generated), parsed from tokens. */
  messages: TraceMessage[];
  /** Log-probability of each generated token under the sampling distribution's source logits. */
  logprobs: number[];
  routing: RoutingCapture | null;
  attention: AttentionCapture | null;
  sampling: SamplingParams;
  stopReason: StopReason;
  timings: RunTimings;
  /** Where the forward passes ran: 'cpu' or 'webgpu (adapter name)'; absent on traces stored before it was recorded. */
  device?: string;
}
