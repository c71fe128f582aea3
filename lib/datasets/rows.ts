/**
 * One dataset row per trace: built from a stored trace (already redacted by the store when raw
 * reasoning is not exported) and its review data, and turned back into what the store writes.
 * Tensors stay flat typed arrays with their shape until a writer nests them.
 */
import type { PromptMessage, StoredTrace } from '../store/types';
import type { ChunkSection } from '../trace/codec';
import type { AttentionCapture, RoutingCapture, RunResult, StopReason, TraceMessage } from '../trace/types';
import { ANALYSIS_CHANNEL, FINAL_CHANNEL, isPlainlyVisible } from '../trace/visibility';
import type { IncludePart } from './columns';
import { NestedTensor } from '../trace/json-stream';

/** A row-major tensor: `data` holds shape[0] x ... values (JSON writes it nested). */
export type Tensor = NestedTensor;

export interface AnnotationColumn {
  id: string; message_index: number; token_start: number; token_end: number; char_start: number; char_end: number;
  text: string | null; label: string; severity: number; annotator: string; kind: string; review_state: string | null;
  note: string | null; created_at: Date; updated_at: Date;
}

export interface VerdictColumn { annotator: string; verdict: string; rationale: string | null; created_at: Date; updated_at: Date }

export interface RedactionColumn { category: string; rule_id: string; char_start: number; char_end: number; token_start: number; token_end: number }

export interface MessageColumn {
  role: string; channel: string | null; recipient: string | null; content_type: string | null;
  token_start: number; token_end: number; complete: boolean; text: string | null;
  /** Fields the harmony parser adds (name, constrained, terminator, ...) as JSON; null when none. */
  extra: string | null;
}

const MESSAGE_KEYS = new Set(['role', 'channel', 'recipient', 'contentType', 'content', 'tokenStart', 'tokenEnd', 'complete', 'redacted']);

/** A message's fields beyond TraceMessage, as JSON (null when there are none). */
export function messageExtra(message: Record<string, unknown>): string | null {
  const extra = Object.entries(message).filter(([key, value]) => !MESSAGE_KEYS.has(key) && value !== undefined);
  return extra.length > 0 ? JSON.stringify(Object.fromEntries(extra)) : null;
}

export interface DatasetRow {
  id: string;
  status: string;
  model: string;
  model_config_hash: string;
  model_shape: { num_layers: number; num_experts: number; experts_per_token: number; num_heads: number; hidden_size: number; vocab_size: number };
  prompt_id: string | null;
  reasoning_effort: string | null;
  sample_index: number;
  sampling: { temperature: number; top_p: number; seed: bigint; max_new_tokens: number };
  stop_reason: string | null;
  created_at: Date;
  completed_at: Date | null;
  timings: { prefill_ms: number; decode_ms: number; prefill_tokens_per_second: number; decode_tokens_per_second: number };
  device: string | null;
  collections: string[];
  tags: string[];
  capture_sections: string[];
  prompt: { role: string; content: string | null; channel: string | null }[];
  messages: MessageColumn[];
  raw_cot_included: boolean;
  raw_cot: string | null;
  filtered_cot: string | null;
  filter_name: string | null;
  filter_version: string | null;
  filtered_cot_redactions: RedactionColumn[];
  final: string | null;
  prompt_length: number;
  tokens: Int32Array;
  token_channel: (string | null)[];
  logprobs: Float64Array;
  routing_experts?: Tensor | null;
  routing_weights?: Tensor | null;
  router_logits?: Tensor | null;
  attention_sink_mass?: Tensor | null;
  attention_top_positions?: Tensor | null;
  attention_top_weights?: Tensor | null;
  annotations?: AnnotationColumn[] | null;
  verdicts?: VerdictColumn[] | null;
}

/** What the store holds beside the trace itself. */
export interface ReviewData {
  filter: { name: string; version: string; text: string; redactions: { category: string; ruleId: string; charStart: number; charEnd: number; tokenStart: number; tokenEnd: number }[] } | null;
  annotations: Omit<AnnotationColumn, never>[];
  verdicts: VerdictColumn[];
  createdAt: Date;
  completedAt: Date | null;
}

/** Words a withheld message's header may keep (the harmony vocabulary; lib/auth/redact.ts keeps the same). */
const HARMONY_WORDS: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'analysis', 'commentary', 'final']);

function tokenChannels(messages: TraceMessage[], numTokens: number, raw: boolean): (string | null)[] {
  const channels: (string | null)[] = new Array(numTokens).fill(null);
  for (const message of messages) {
    const word = message.channel ?? message.role;
    const shown = raw || HARMONY_WORDS.has(word) ? word : null;
    for (let t = Math.max(0, message.tokenStart); t < Math.min(numTokens, message.tokenEnd); t++) channels[t] = shown;
  }
  return channels;
}

function joinTexts(messages: TraceMessage[], keep: (message: TraceMessage) => boolean): string | null {
  const texts = messages.filter(keep).map((message) => message.content);
  return texts.length > 0 ? texts.join('\n\n') : null;
}

function routingTensors(routing: RoutingCapture | null, include: readonly IncludePart[]): Partial<DatasetRow> {
  if (!include.includes('routing') && !include.includes('logits')) return {};
  const shape = routing ? [routing.numTokens, routing.numLayers, routing.topK] : [];
  const columns: Partial<DatasetRow> = {};
  if (include.includes('routing')) {
    columns.routing_experts = routing && new NestedTensor(routing.experts, shape);
    columns.routing_weights = routing && new NestedTensor(routing.weights, shape);
  }
  if (include.includes('logits')) {
    columns.router_logits = routing && routing.logits.length > 0 ? new NestedTensor(routing.logits, [routing.numTokens, routing.numLayers, routing.numExperts]) : null;
  }
  return columns;
}

function attentionTensors(attention: AttentionCapture | null): Partial<DatasetRow> {
  if (!attention) return { attention_sink_mass: null, attention_top_positions: null, attention_top_weights: null };
  const heads = [attention.numTokens, attention.numLayers, attention.numHeads];
  return {
    attention_sink_mass: new NestedTensor(attention.sinkMass, heads),
    attention_top_positions: new NestedTensor(attention.topPositions, [...heads, attention.topK]),
    attention_top_weights: new NestedTensor(attention.topWeights, [...heads, attention.topK]),
  };
}

/**
 * The row of a trace read with `includeRawCot` equal to whether raw is exported. When it is not,
 * the store already emptied withheld messages and set their token ids to -1; here their text
 * becomes null, and annotation text, notes and verdict rationales (which quote reasoning) too.
 */
export function rowFromTrace(trace: StoredTrace, review: ReviewData, include: readonly IncludePart[]): DatasetRow {
  const raw = trace.metadata.rawCotIncluded;
  const { metadata } = trace;
  const withheld = (message: TraceMessage & { redacted?: boolean }) => !raw && (message.redacted === true || !isPlainlyVisible(message, trace.promptLength));
  const row: DatasetRow = {
    id: trace.id,
    status: trace.status,
    model: metadata.model.name,
    model_config_hash: metadata.model.configHash,
    model_shape: {
      num_layers: metadata.model.numLayers, num_experts: metadata.model.numExperts, experts_per_token: metadata.model.expertsPerToken,
      num_heads: metadata.model.numHeads, hidden_size: metadata.model.hiddenSize, vocab_size: metadata.model.vocabSize,
    },
    prompt_id: metadata.promptId,
    reasoning_effort: metadata.effort,
    sample_index: metadata.sampleIndex,
    sampling: { temperature: trace.sampling.temperature, top_p: trace.sampling.topP, seed: BigInt(trace.sampling.seed), max_new_tokens: trace.sampling.maxNewTokens },
    stop_reason: trace.status === 'complete' || trace.status === 'cancelled' ? trace.stopReason : null,
    created_at: review.createdAt,
    completed_at: review.completedAt,
    timings: {
      prefill_ms: trace.timings.prefillMs, decode_ms: trace.timings.decodeMs,
      prefill_tokens_per_second: trace.timings.prefillTokensPerSecond, decode_tokens_per_second: trace.timings.decodeTokensPerSecond,
    },
    device: trace.device ?? null,
    collections: metadata.collections,
    tags: metadata.tags,
    capture_sections: metadata.capture.sections,
    prompt: metadata.prompt.map((message) => ({ role: message.role, content: message.redacted ? null : message.content, channel: message.channel ?? null })),
    messages: trace.messages.map((message) => ({
      role: message.role, channel: message.channel, recipient: message.recipient, content_type: message.contentType,
      token_start: message.tokenStart, token_end: message.tokenEnd, complete: message.complete, text: withheld(message) ? null : message.content,
      extra: withheld(message) ? null : messageExtra(message as unknown as Record<string, unknown>),
    })),
    raw_cot_included: raw,
    raw_cot: raw ? joinTexts(trace.messages, (message) => message.role === 'assistant' && message.channel === ANALYSIS_CHANNEL) : null,
    filtered_cot: review.filter?.text ?? null,
    filter_name: review.filter?.name ?? null,
    filter_version: review.filter?.version ?? null,
    filtered_cot_redactions: (review.filter?.redactions ?? []).map((span) => ({
      category: span.category, rule_id: span.ruleId, char_start: span.charStart, char_end: span.charEnd, token_start: span.tokenStart, token_end: span.tokenEnd,
    })),
    final: joinTexts(trace.messages, (message) => message.role === 'assistant' && message.channel === FINAL_CHANNEL),
    prompt_length: trace.promptLength,
    tokens: Int32Array.from(trace.tokens),
    token_channel: tokenChannels(trace.messages, trace.tokens.length, raw),
    logprobs: Float64Array.from(trace.logprobs),
    ...routingTensors(trace.routing, include),
    ...(include.includes('attention') ? attentionTensors(trace.attention) : {}),
  };
  if (include.includes('annotations')) {
    row.annotations = review.annotations.map((annotation) => (raw ? annotation : { ...annotation, text: null, note: null }));
    row.verdicts = review.verdicts.map((verdict) => (raw ? verdict : { ...verdict, rationale: null }));
  }
  return row;
}

/** The capture sections a trace's row carries. */
export function rowSections(row: DatasetRow): ChunkSection[] {
  const sections: ChunkSection[] = ['tokens'];
  if (row.routing_experts) sections.push('routing');
  if (row.router_logits) sections.push('logits');
  if (row.attention_sink_mass) sections.push('attention');
  return sections;
}

/** A row back as the run the store writes (capture arrays re-flattened from the tensors). */
export function runFromRow(row: DatasetRow): RunResult {
  const experts = row.routing_experts;
  const weights = row.routing_weights;
  const logits = row.router_logits;
  const numTokens = row.tokens.length;
  const routing: RoutingCapture | null = experts && weights ? {
    numTokens, numLayers: experts.shape[1], numExperts: row.model_shape.num_experts, topK: experts.shape[2],
    experts: row.model_shape.num_experts > 256 ? Uint16Array.from(experts.data) : Uint8Array.from(experts.data),
    weights: Float32Array.from(weights.data),
    logits: logits ? Float32Array.from(logits.data) : new Float32Array(0),
  } : null;
  const sink = row.attention_sink_mass;
  const positions = row.attention_top_positions;
  const attentionWeights = row.attention_top_weights;
  const attention: AttentionCapture | null = sink && positions && attentionWeights ? {
    numTokens, numLayers: sink.shape[1], numHeads: sink.shape[2], topK: positions.shape[3],
    sinkMass: Float32Array.from(sink.data), topPositions: Int32Array.from(positions.data), topWeights: Float32Array.from(attentionWeights.data),
  } : null;
  return {
    model: { name: row.model, configHash: row.model_config_hash },
    tokens: Array.from(row.tokens),
    promptLength: row.prompt_length,
    messages: row.messages.map((message) => ({
      ...(message.extra ? JSON.parse(message.extra) as Record<string, unknown> : {}),
      role: message.role, channel: message.channel, recipient: message.recipient, contentType: message.content_type,
      content: message.text ?? '', tokenStart: message.token_start, tokenEnd: message.token_end, complete: message.complete,
    })),
    logprobs: Array.from(row.logprobs),
    routing,
    attention,
    sampling: { temperature: row.sampling.temperature, topP: row.sampling.top_p, seed: Number(row.sampling.seed), maxNewTokens: row.sampling.max_new_tokens },
    stopReason: (row.stop_reason ?? 'cancelled') as StopReason,
    timings: {
      prefillMs: row.timings.prefill_ms, decodeMs: row.timings.decode_ms,
      prefillTokensPerSecond: row.timings.prefill_tokens_per_second, decodeTokensPerSecond: row.timings.decode_tokens_per_second,
    },
    ...(row.device ? { device: row.device } : {}),
  };
}

export function promptFromRow(row: DatasetRow): PromptMessage[] {
  return row.prompt.map((message) => ({
    role: message.role, content: message.content ?? '',
    ...(message.channel !== null ? { channel: message.channel } : {}), ...(message.content === null ? { redacted: true } : {}),
  }));
}
