/**
 * The dataset's columns, declared once: the Parquet schema, the Hugging Face `features` of the
 * dataset card and the README's column table all come from this list. One row is one trace.
 *
 * Tensors ([token][layer][k] routing, [token][layer][head] attention) are nested lists, not flat
 * values plus shape columns: `datasets` (Sequence of Sequence), pandas (pyarrow lists), DuckDB
 * (INTEGER[][][]) and Spark (array<array<array<int>>>) all read nested lists as arrays indexed by
 * token and layer with no reshape step, and the shape of each row stays self-describing.
 */
import type { SchemaElement } from 'hyparquet';

export type LeafType = 'string' | 'bool' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'float32' | 'float64' | 'float16' | 'timestamp';
export type FieldType = LeafType | { list: FieldType } | { struct: Field[] };

export interface Field {
  name: string;
  type: FieldType;
  /** Whether the value may be null (top-level columns and struct fields). */
  nullable?: boolean;
  /** One line for the README's column table and the card. */
  doc?: string;
}

/** Which optional parts an export carries (`--include`). */
export const INCLUDE_PARTS = ['raw', 'routing', 'logits', 'attention', 'annotations'] as const;
export type IncludePart = (typeof INCLUDE_PARTS)[number];
export const DEFAULT_INCLUDE: readonly IncludePart[] = ['routing', 'annotations'];

const list = (type: FieldType): FieldType => ({ list: type });
const struct = (fields: Field[]): FieldType => ({ struct: fields });
/** A [token][...] tensor of `rank` nested lists. */
const tensor = (leaf: LeafType, rank: number): FieldType => (rank === 0 ? leaf : list(tensor(leaf, rank - 1)));

export const MESSAGE_FIELDS: Field[] = [
  { name: 'role', type: 'string' },
  { name: 'channel', type: 'string', nullable: true },
  { name: 'recipient', type: 'string', nullable: true },
  { name: 'content_type', type: 'string', nullable: true },
  { name: 'token_start', type: 'int32' },
  { name: 'token_end', type: 'int32' },
  { name: 'complete', type: 'bool' },
  { name: 'text', type: 'string', nullable: true },
  { name: 'extra', type: 'string', nullable: true },
];

export const ANNOTATION_FIELDS: Field[] = [
  { name: 'id', type: 'string' },
  { name: 'message_index', type: 'int32' },
  { name: 'token_start', type: 'int32' },
  { name: 'token_end', type: 'int32' },
  { name: 'char_start', type: 'int32' },
  { name: 'char_end', type: 'int32' },
  { name: 'text', type: 'string', nullable: true },
  { name: 'label', type: 'string' },
  { name: 'severity', type: 'int32' },
  { name: 'annotator', type: 'string' },
  { name: 'kind', type: 'string' },
  { name: 'review_state', type: 'string', nullable: true },
  { name: 'note', type: 'string', nullable: true },
  { name: 'created_at', type: 'timestamp' },
  { name: 'updated_at', type: 'timestamp' },
];

export const VERDICT_FIELDS: Field[] = [
  { name: 'annotator', type: 'string' },
  { name: 'verdict', type: 'string' },
  { name: 'rationale', type: 'string', nullable: true },
  { name: 'created_at', type: 'timestamp' },
  { name: 'updated_at', type: 'timestamp' },
];

const BASE_COLUMNS: Field[] = [
  { name: 'id', type: 'string', doc: 'trace id (import is idempotent by it)' },
  { name: 'status', type: 'string', doc: 'complete | cancelled | failed | running' },
  { name: 'model', type: 'string', doc: 'model name' },
  { name: 'model_config_hash', type: 'string', doc: 'sha256 of the checkpoint config: the same name with another hash is another model' },
  { name: 'model_shape', type: struct(['num_layers', 'num_experts', 'experts_per_token', 'num_heads', 'hidden_size', 'vocab_size'].map((name) => ({ name, type: 'int32' as const }))),
    doc: 'layers, experts, experts per token (k), query heads, hidden size, vocabulary size' },
  { name: 'prompt_id', type: 'string', nullable: true, doc: 'the batch-capture JSONL prompt id (null for live runs)' },
  { name: 'reasoning_effort', type: 'string', nullable: true, doc: 'low | medium | high' },
  { name: 'sample_index', type: 'int32', doc: 'sample number of a prompt x effort' },
  { name: 'sampling', type: struct([
    { name: 'temperature', type: 'float64' }, { name: 'top_p', type: 'float64' }, { name: 'seed', type: 'int64' }, { name: 'max_new_tokens', type: 'int32' },
  ]), doc: 'temperature, top_p, seed, max_new_tokens' },
  { name: 'stop_reason', type: 'string', nullable: true, doc: 'stop_token | max_tokens | cancelled | context_full' },
  { name: 'created_at', type: 'timestamp', doc: 'capture start (UTC, ms)' },
  { name: 'completed_at', type: 'timestamp', nullable: true, doc: 'capture end' },
  { name: 'timings', type: struct(['prefill_ms', 'decode_ms', 'prefill_tokens_per_second', 'decode_tokens_per_second'].map((name) => ({ name, type: 'float64' as const }))),
    doc: 'prefill and decode time and speed' },
  { name: 'device', type: 'string', nullable: true, doc: 'where it ran: `cpu`, or `webgpu (<adapter>)`; null when not recorded' },
  { name: 'collections', type: list('string'), doc: 'collection names' },
  { name: 'tags', type: list('string'), doc: 'tag names' },
  { name: 'capture_sections', type: list('string'), doc: 'what the store recorded: tokens, routing, logits, attention' },
  { name: 'prompt', type: list(struct([{ name: 'role', type: 'string' }, { name: 'content', type: 'string', nullable: true }, { name: 'channel', type: 'string', nullable: true }])),
    doc: 'prompt messages as written ({role, content, channel}); content null where withheld' },
  { name: 'messages', type: list(struct(MESSAGE_FIELDS)),
    doc: 'parsed harmony messages with token spans [token_start, token_end); text null where withheld; extra: other parser fields as JSON' },
  { name: 'raw_cot_included', type: 'bool', doc: 'false when raw reasoning was withheld (role or --include)' },
  { name: 'raw_cot', type: 'string', nullable: true, doc: 'analysis-channel text joined by blank lines; null unless included' },
  { name: 'filtered_cot', type: 'string', nullable: true, doc: 'the newest stored filter output (safe for every role)' },
  { name: 'filter_name', type: 'string', nullable: true, doc: 'filter that produced filtered_cot' },
  { name: 'filter_version', type: 'string', nullable: true, doc: 'its version (rules hash)' },
  { name: 'filtered_cot_redactions', type: list(struct([
    { name: 'category', type: 'string' }, { name: 'rule_id', type: 'string' }, { name: 'char_start', type: 'int32' },
    { name: 'char_end', type: 'int32' }, { name: 'token_start', type: 'int32' }, { name: 'token_end', type: 'int32' },
  ])), doc: 'redacted spans: category, rule, chars in the raw text, tokens' },
  { name: 'final', type: 'string', nullable: true, doc: 'final-channel answer text' },
  { name: 'prompt_length', type: 'int32', doc: 'tokens before generation started' },
  { name: 'tokens', type: list('int32'), doc: 'o200k_harmony token ids, prompt and generated; -1 where withheld' },
  { name: 'token_channel', type: list('string'), doc: 'per token: its message channel, else its role (null outside messages)' },
  { name: 'logprobs', type: list('float64'), doc: 'log-probability of each generated token' },
];

const PART_COLUMNS: Record<Exclude<IncludePart, 'raw'>, Field[]> = {
  routing: [
    { name: 'routing_experts', type: tensor('uint8', 3), nullable: true, doc: '[token][layer][k] chosen experts (uint16 when > 256 experts), descending router logit' },
    { name: 'routing_weights', type: tensor('float32', 3), nullable: true, doc: '[token][layer][k] softmax over the k chosen logits (stored f16, exact in f32)' },
  ],
  logits: [
    { name: 'router_logits', type: tensor('float16', 3), nullable: true, doc: '[token][layer][expert] raw router logits, float16 (as stored)' },
  ],
  attention: [
    { name: 'attention_sink_mass', type: tensor('float32', 3), nullable: true, doc: '[token][layer][head] probability mass on the sink' },
    { name: 'attention_top_positions', type: tensor('int32', 4), nullable: true, doc: '[token][layer][head][k] most attended positions (-1 pads)' },
    { name: 'attention_top_weights', type: tensor('float32', 4), nullable: true, doc: '[token][layer][head][k] their attention probabilities' },
  ],
  annotations: [
    { name: 'annotations', type: list(struct(ANNOTATION_FIELDS)), nullable: true,
      doc: 'labelled spans (soft-deleted ones left out); text and note null unless raw is included' },
    { name: 'verdicts', type: list(struct(VERDICT_FIELDS)), nullable: true, doc: 'trace-level verdicts per annotator; rationale null unless raw is included' },
  ],
};

/** The columns of an export with these parts, in order. */
export function datasetColumns(include: readonly IncludePart[], wideExperts = false): Field[] {
  const parts = (Object.keys(PART_COLUMNS) as (keyof typeof PART_COLUMNS)[]).filter((part) => include.includes(part));
  const columns = [...BASE_COLUMNS, ...parts.flatMap((part) => PART_COLUMNS[part])];
  return wideExperts ? columns.map((column) => (column.name === 'routing_experts' ? { ...column, type: tensor('uint16', 3) } : column)) : columns;
}

/** Every column any export can have (the README table). */
export function allColumns(): Field[] {
  return datasetColumns(INCLUDE_PARTS);
}

/** Nesting depth of a tensor column (0 for others) and its leaf type. */
export function tensorRank(type: FieldType): { rank: number; leaf: LeafType | null } {
  let rank = 0;
  let current = type;
  while (typeof current === 'object' && 'list' in current) { rank++; current = current.list; }
  return typeof current === 'string' && rank >= 3 ? { rank, leaf: current } : { rank: 0, leaf: null };
}

// ---------------------------------------------------------------------------------------------
// Parquet schema

const LEAF_ELEMENTS: Record<LeafType, Omit<SchemaElement, 'name' | 'repetition_type'>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  bool: { type: 'BOOLEAN' },
  int32: { type: 'INT32' },
  int64: { type: 'INT64' },
  uint8: { type: 'INT32', converted_type: 'UINT_8' },
  uint16: { type: 'INT32', converted_type: 'UINT_16' },
  float32: { type: 'FLOAT' },
  float64: { type: 'DOUBLE' },
  float16: { type: 'FIXED_LEN_BYTE_ARRAY', type_length: 2, logical_type: { type: 'FLOAT16' } },
  timestamp: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
};

/** Pre-order schema elements of one field, lists in the standard three-level LIST layout. */
function fieldElements(name: string, type: FieldType, nullable: boolean): SchemaElement[] {
  const repetition_type = nullable ? 'OPTIONAL' : 'REQUIRED';
  if (typeof type === 'string') return [{ name, repetition_type, ...LEAF_ELEMENTS[type] }];
  if ('list' in type) {
    return [
      { name, repetition_type, converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      // String list elements may be null (token_channel outside any message); numeric ones never are.
      ...fieldElements('element', type.list, type.list === 'string'),
    ];
  }
  return [{ name, repetition_type, num_children: type.struct.length }, ...type.struct.flatMap((field) => fieldElements(field.name, field.type, field.nullable ?? false))];
}

export function parquetSchema(columns: Field[]): SchemaElement[] {
  // Top-level lists are optional so a part that was not captured is null, not an empty list.
  return [{ name: 'root', num_children: columns.length }, ...columns.flatMap((column) => fieldElements(column.name, column.type, column.nullable ?? typeof column.type === 'object'))];
}

// ---------------------------------------------------------------------------------------------
// Hugging Face features (dataset card `dataset_info.features`)

const HF_DTYPES: Record<LeafType, string> = {
  string: 'string', bool: 'bool', int32: 'int32', int64: 'int64', uint8: 'uint8', uint16: 'uint16',
  float32: 'float32', float64: 'float64', float16: 'float16', timestamp: 'timestamp[ms]',
};

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

function hfType(type: FieldType): { [key: string]: YamlValue } {
  if (typeof type === 'string') return { dtype: HF_DTYPES[type] };
  if ('list' in type) {
    const inner = type.list;
    if (typeof inner === 'object' && 'struct' in inner) return { list: inner.struct.map((field) => ({ name: field.name, ...hfType(field.type) })) };
    const element = hfType(inner);
    return { sequence: 'dtype' in element && Object.keys(element).length === 1 ? element.dtype : element };
  }
  return { struct: type.struct.map((field) => ({ name: field.name, ...hfType(field.type) })) };
}

export function hfFeatures(columns: Field[]): YamlValue[] {
  return columns.map((column) => ({ name: column.name, ...hfType(column.type) }));
}

/** A readable type for the README: list<list<list<uint8>>>, struct<...>. */
export function typeName(type: FieldType): string {
  if (typeof type === 'string') return type;
  if ('list' in type) return `list<${typeName(type.list)}>`;
  return `struct<${type.struct.map((field) => `${field.name}: ${typeName(field.type)}`).join(', ')}>`;
}
