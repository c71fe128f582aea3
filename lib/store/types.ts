/** Shapes the store's repository functions take and return. */
import type { RunResult, SamplingParams, TraceMessage } from '../trace/types';
import type { ChunkSection } from '../trace/codec';

export type TraceStatus = 'running' | 'complete' | 'failed' | 'cancelled';
export const TRACE_STATUSES: readonly TraceStatus[] = ['running', 'complete', 'failed', 'cancelled'];

export interface ModelIdentity {
  name: string;
  configHash: string;
  numLayers: number;
  numExperts: number;
  expertsPerToken: number;
  numHeads: number;
  hiddenSize: number;
  vocabSize: number;
}

/** One input message as the researcher wrote it (before harmony rendering). */
export interface PromptMessage {
  role: string;
  content: string;
  /** Assistant messages of a JSONL `messages` prompt carry their channel. */
  channel?: string;
  /** Set when the text was withheld from a reader without raw-reasoning rights. */
  redacted?: boolean;
}

export interface NewTrace {
  model: ModelIdentity;
  prompt: PromptMessage[];
  promptId?: string | null;
  effort?: string | null;
  sampleIndex?: number;
  sampling: SamplingParams;
  /** Batch capture's resume key (lib/trace/capture-key.ts); null for live runs. */
  captureKey?: string | null;
  collection?: string | null;
  tags?: string[];
  /** The queued job this trace is an attempt of (lib/jobs); a job gets at most one complete trace. */
  jobId?: string | null;
}

export interface CompleteOptions {
  /** Tokens per stored chunk (default 1024). */
  chunkTokens?: number;
  /** Keep raw router logits (default true). */
  includeLogits?: boolean;
}

export interface GetOptions {
  /** Whether raw chain of thought (analysis text and its token ids) may be returned. Required: the caller decides. */
  includeRawCot: boolean;
  /** Capture sections to load (default all). `tokens` is always loaded. */
  sections?: ChunkSection[];
}

export interface TraceMetadata {
  promptId: string | null;
  prompt: PromptMessage[];
  effort: string | null;
  sampleIndex: number;
  collections: string[];
  tags: string[];
  error: string | null;
  createdAt: string;
  completedAt: string | null;
  owner: { pid: number | null; host: string | null; heartbeatAt: string | null };
  model: ModelIdentity;
  /** False when analysis text was withheld: its content is '' and its token ids are -1. */
  rawCotIncluded: boolean;
  /** What the capture holds (recorded at completion), whether or not this read loaded it. */
  capture: { sections: ChunkSection[]; attentionTopK: number | null };
}

/** Redacted analysis messages carry `redacted: true`. */
export type StoredMessage = TraceMessage & { redacted?: boolean };

export interface StoredTrace extends RunResult {
  id: string;
  status: TraceStatus;
  messages: StoredMessage[];
  metadata: TraceMetadata;
}

export interface TraceFilters {
  /** Model name or id. */
  model?: string;
  collection?: string;
  effort?: string;
  status?: TraceStatus;
  tag?: string;
  promptId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  /** Full-text query (websearch syntax) over message text. */
  text?: string;
  /** Traces with (true) or without (false) a live annotation. */
  hasAnnotations?: boolean;
  /** Traces with a live annotation of this label. */
  label?: string;
  /** Traces some annotator gave this verdict. */
  verdict?: 'safe' | 'unsafe' | 'unsure';
  /** Traces this annotator annotated or gave a verdict. */
  annotator?: string;
}

export type SortKey = 'createdAt' | 'tokenCount';

export interface ListOptions {
  sort?: SortKey;
  direction?: 'asc' | 'desc';
  /** Opaque cursor from a previous page's nextCursor. */
  cursor?: string | null;
  limit?: number;
  /** Text search also matches analysis (raw CoT) messages. Default false. */
  includeRawCot?: boolean;
}

export interface TraceListItem {
  id: string;
  model: string;
  promptId: string | null;
  effort: string | null;
  sampleIndex: number;
  status: TraceStatus;
  promptTokens: number;
  tokenCount: number;
  stopReason: string | null;
  createdAt: string;
  completedAt: string | null;
  collections: string[];
  tags: string[];
  /** Start of the final answer, when there is one. */
  finalPreview: string | null;
  /** Run timings; null until the trace completes (and for traces stored without them). */
  prefillMs: number | null;
  decodeMs: number | null;
  prefillTokensPerSecond: number | null;
  decodeTokensPerSecond: number | null;
  /** Review summary: live annotations, their distinct labels, verdict counts, who annotated or judged. */
  review: TraceReviewSummary;
}

export interface TraceReviewSummary {
  annotationCount: number;
  labels: string[];
  verdicts: { safe: number; unsafe: number; unsure: number };
  annotators: string[];
}

export interface TracePage {
  items: TraceListItem[];
  nextCursor: string | null;
  /** Traces matching the filters on all pages (the cursor does not narrow it). */
  total: number;
}

export interface SearchHit {
  traceId: string;
  messageIndex: number;
  channel: string | null;
  role: string;
  rank: number;
  /** Matching excerpt with matches wrapped in [[ ]]. */
  snippet: string;
}
