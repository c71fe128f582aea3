/**
 * Shapes exchanged between the workbench's server side (lib/workbench/server.ts, route handlers)
 * and its client components. Type-only and free of Node imports so client code can use them.
 */
import type { Identity } from '../auth/roles';
import type { RedactedMessage } from '../auth/redact';
import type { FilteredReasoning } from '../review/filter';
import type { RoutingShape } from './routing-stats';

export const SORT_KEYS = ['createdAt', 'tokenCount'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export const TRACE_STATUSES = ['running', 'complete', 'failed', 'cancelled'] as const;
export type TraceStatus = (typeof TRACE_STATUSES)[number];

export interface TraceListQuery {
  search?: string;
  model?: string;
  collection?: string;
  effort?: string;
  status?: TraceStatus;
  tag?: string;
  /** ISO dates, inclusive from, exclusive to. */
  from?: string;
  to?: string;
  sort: SortKey;
  direction: 'asc' | 'desc';
  /** Review filters: has a live annotation (or not), has a span of this label, got this verdict, annotated or judged by this annotator. */
  hasAnnotations?: boolean;
  label?: string;
  verdict?: 'safe' | 'unsafe' | 'unsure';
  annotator?: string;
  /** Opaque keyset cursor from the previous page. */
  cursor?: string;
  limit: number;
}

export interface TraceRow {
  id: string;
  model: string;
  effort: string | null;
  status: TraceStatus;
  createdAt: string;
  promptTokens: number;
  tokenCount: number;
  decodeTokensPerSecond: number | null;
  /** Start of the final answer. */
  preview: string;
  tags: string[];
  collections: string[];
  /** Live annotations on the trace. */
  annotationCount: number;
  /** Distinct labels of those annotations. */
  labels: string[];
  /** How many annotators gave each verdict. */
  verdicts: { safe: number; unsafe: number; unsure: number };
  /** Who annotated or gave a verdict. */
  annotators: string[];
}

export interface TraceListPage {
  rows: TraceRow[];
  /** Rows matching the filters over all pages, when the store reports it. */
  total: number | null;
  nextCursor: string | null;
}

export interface TraceHeader {
  id: string;
  model: string;
  configHash: string;
  effort: string | null;
  status: TraceStatus;
  stopReason: string | null;
  temperature: number;
  topP: number;
  seed: string;
  maxNewTokens: number;
  promptTokens: number;
  tokenCount: number;
  prefillMs: number | null;
  decodeMs: number | null;
  decodeTokensPerSecond: number | null;
  prefillTokensPerSecond: number | null;
  createdAt: string;
}

export interface AttentionShape {
  numTokens: number;
  numLayers: number;
  numHeads: number;
  topK: number;
}

/** Everything the trace view renders besides the heatmap bytes; already redacted for `identity`. */
export interface TraceViewData {
  header: TraceHeader;
  identity: Identity;
  tokenTexts: string[];
  messages: RedactedMessage[];
  filtered: FilteredReasoning;
  routing: RoutingShape | null;
  attention: AttentionShape | null;
}

export interface LayerRouting {
  layer: number;
  experts: { expert: number; weight: number }[];
  /** softmax over all experts of the router logits. */
  probabilities: number[];
  entropy: number;
}

export interface HeadAttention {
  head: number;
  sinkMass: number;
  top: { position: number; weight: number }[];
}

export interface TokenDetail {
  index: number;
  token: number;
  text: string;
  withheld: boolean;
  routing: LayerRouting[];
  /** Attention of the requested layer, per head. */
  attentionLayer: number;
  attention: HeadAttention[];
  /** [L][H] sink mass of this token. */
  sinkMass: number[][];
}

export interface AttentionSeries {
  layer: number;
  head: number;
  numTokens: number;
  topK: number;
  /** [T] sink mass along the trace. */
  sinkMass: number[];
  /** [T][k] positions (-1 pad) and weights. */
  topPositions: number[][];
  topWeights: number[][];
}

export interface ModelInfo {
  name: string;
  dir: string;
  /** A tiny checkpoint with random weights written by lib/model/generate.ts. */
  generated: boolean;
  preset: string | null;
  numLayers: number;
  numExperts: number;
}

/** Server-sent events of a live run. */
export type RunEvent =
  | { type: 'start'; traceId: string; promptLength: number; numLayers: number; numExperts: number; topK: number; promptTexts: string[] }
  | { type: 'token'; index: number; text: string; experts: number[][] | null; weights: number[][] | null }
  | { type: 'done'; traceId: string; stopReason: string; tokenCount: number }
  | { type: 'error'; message: string };
