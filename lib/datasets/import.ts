/**
 * Import: a dataset folder (`data/*.parquet` or `data/*.jsonl`, as exported), a single data file,
 * or `run --json` / `traces get --json` documents (one per file, or one per line) back into the
 * store. Idempotent by trace id: a trace already in the store is skipped whole. Each trace is one
 * transaction: trace row, capture chunks, messages, expert usage, collections, tags, filter
 * output, annotations (with a creation revision) and verdicts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { z } from 'zod';
import { TRACE_STATUSES, type Store } from '../store/index';
import { storableText } from '../trace/text';
import { traceIdSchema } from '../workbench/queries';
import { addTags, addToCollection, ensureModel, writeChunks, insertMessages, insertUsage } from '../store/traces';
import { encodeCaptureLazily } from '../trace/codec';
import { NestedTensor } from '../trace/json-stream';
import { summarizeExpertUsage } from '../trace/summary';
import type { SqlQuery } from '../store/backend';
import { messageExtra, promptFromRow, rowSections, runFromRow, type DatasetRow } from './rows';

const text = storableText();
const count = z.number().int().min(0);
const nullableText = text.nullable();

/** The fields a row must have to be stored; the tensors' shapes are checked by the codec against the tokens. */
const recordSchema = z.object({
  id: traceIdSchema,
  status: z.enum(TRACE_STATUSES),
  model: text.min(1),
  model_config_hash: text.min(1),
  model_shape: z.object({ num_layers: count, num_experts: count, experts_per_token: count, num_heads: count, hidden_size: count, vocab_size: count }),
  prompt_id: nullableText,
  reasoning_effort: nullableText,
  sample_index: count,
  sampling: z.object({ temperature: z.number(), top_p: z.number(), seed: z.union([z.number().int().min(0), z.bigint().min(0n)]), max_new_tokens: count }),
  stop_reason: nullableText,
  device: nullableText.optional(),
  prompt: z.array(z.object({ role: text, content: nullableText, channel: nullableText })),
  messages: z.array(z.object({ role: text, channel: nullableText, recipient: nullableText, content_type: nullableText, token_start: count, token_end: count, complete: z.boolean(), text: nullableText })),
  prompt_length: count,
  tokens: z.array(z.number().int()),
}).refine((record) => record.prompt_length <= record.tokens.length, { message: 'prompt_length is longer than tokens', path: ['prompt_length'] });

/** A record that does not parse as a dataset row: names the file, the row and the field. */
export class DatasetRowError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'DatasetRowError';
  }
}

function checkRecord(record: Json, where: string): void {
  const parsed = recordSchema.safeParse(record);
  if (!parsed.success) throw new DatasetRowError(where, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'row'}: ${issue.message}`).join('; '));
}

export interface ImportSummary { imported: number; skipped: number; files: string[] }

type Json = Record<string, unknown>;
type TypedArrayType = Uint8ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor | Float32ArrayConstructor;

/** Nested arrays [a][b]... to a tensor (shape from the first element at each depth). */
function tensorFromNested(value: unknown, rank: number, type: TypedArrayType): NestedTensor | null {
  if (value === null || value === undefined) return null;
  const shape: number[] = [];
  let probe: unknown = value;
  for (let axis = 0; axis < rank; axis++) {
    const items = probe as unknown[];
    shape.push(items.length);
    probe = items[0];
  }
  if (shape.includes(0)) return new NestedTensor(new type(0), shape.map((dim) => dim || 0));
  const flat = (value as unknown[]).flat(rank - 1) as (number | null)[];
  const data = new type(flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = flat[i] ?? Number.NaN;
  return new NestedTensor(data, shape);
}

const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));
const asNullableDate = (value: unknown): Date | null => (value === null || value === undefined ? null : asDate(value));

/** A row as read back from Parquet (hyparquet) or JSON Lines (JSON.parse) to the writer's shape. */
export function rowFromRecord(record: Json, where = 'row'): DatasetRow {
  checkRecord(record, where);
  const sampling = record.sampling as Json;
  const list = <T>(value: unknown) => (value ?? []) as T[];
  const experts = (record.model_shape as Json).num_experts as number;
  const timed = <T extends Json>(items: unknown) => (items === null || items === undefined ? items : list<T>(items).map((item) => ({ ...item, created_at: asDate(item.created_at), updated_at: asDate(item.updated_at) })));
  const row = {
    ...record,
    sampling: { ...sampling, seed: BigInt(sampling.seed as number | bigint) },
    created_at: asDate(record.created_at),
    completed_at: asNullableDate(record.completed_at),
    device: record.device ?? null,
    collections: list(record.collections),
    tags: list(record.tags),
    capture_sections: list(record.capture_sections),
    prompt: list(record.prompt),
    messages: list(record.messages),
    filtered_cot_redactions: list(record.filtered_cot_redactions),
    tokens: Int32Array.from(list<number>(record.tokens)),
    token_channel: list(record.token_channel),
    logprobs: Float64Array.from(list<number | null>(record.logprobs), (value) => value ?? Number.NaN),
    routing_experts: tensorFromNested(record.routing_experts, 3, experts > 256 ? Uint16Array : Uint8Array),
    routing_weights: tensorFromNested(record.routing_weights, 3, Float32Array),
    router_logits: tensorFromNested(record.router_logits, 3, Float32Array),
    attention_sink_mass: tensorFromNested(record.attention_sink_mass, 3, Float32Array),
    attention_top_positions: tensorFromNested(record.attention_top_positions, 4, Int32Array),
    attention_top_weights: tensorFromNested(record.attention_top_weights, 4, Float32Array),
    annotations: timed(record.annotations),
    verdicts: timed(record.verdicts),
  };
  return row as unknown as DatasetRow;
}

/** A `run --json` or `traces get --json` document as a row (an id from its content when it has none). */
export function rowFromRunDocument(document: Json, text: string, where = 'document'): DatasetRow {
  const metadata = (document.metadata ?? {}) as Json;
  const model = (document.model ?? {}) as Json;
  const routing = document.routing as Json | null;
  const attention = document.attention as Json | null;
  const experts = tensorFromNested(routing?.experts, 3, Uint8Array);
  const known = (metadata.model ?? {}) as Json;
  const shape = {
    num_layers: (known.numLayers as number) ?? experts?.shape[1] ?? 0,
    num_experts: (known.numExperts as number) ?? (routing?.numExperts as number) ?? 0,
    experts_per_token: (known.expertsPerToken as number) ?? (routing?.topK as number) ?? 0,
    num_heads: (known.numHeads as number) ?? ((attention?.sinkMass as unknown[][][] | undefined)?.[0]?.[0]?.length ?? 0),
    hidden_size: (known.hiddenSize as number) ?? 0,
    vocab_size: (known.vocabSize as number) ?? 0,
  };
  const sampling = (document.sampling ?? {}) as Json;
  const timings = (document.timings ?? {}) as Json;
  const top = attention?.top as Json | undefined;
  const tokens = document.tokens as number[];
  const logits = routing?.logits as unknown[] | undefined;
  return rowFromRecord({
    id: (document.id as string) ?? `run-${createHash('sha256').update(text).digest('hex').slice(0, 32)}`,
    status: (document.status as string) ?? 'complete',
    model: model.name, model_config_hash: model.configHash, model_shape: shape,
    prompt_id: metadata.promptId ?? null, reasoning_effort: metadata.effort ?? null, sample_index: metadata.sampleIndex ?? 0,
    sampling: { temperature: sampling.temperature, top_p: sampling.topP, seed: sampling.seed, max_new_tokens: sampling.maxNewTokens },
    stop_reason: document.stopReason ?? null, device: document.device ?? null,
    created_at: metadata.createdAt ?? new Date(0).toISOString(), completed_at: metadata.completedAt ?? null,
    timings: { prefill_ms: timings.prefillMs, decode_ms: timings.decodeMs, prefill_tokens_per_second: timings.prefillTokensPerSecond, decode_tokens_per_second: timings.decodeTokensPerSecond },
    collections: metadata.collections ?? [], tags: metadata.tags ?? [], capture_sections: [],
    prompt: ((metadata.prompt ?? []) as Json[]).map((message) => ({ role: message.role, content: message.redacted ? null : message.content, channel: message.channel ?? null })),
    messages: ((document.messages ?? []) as Json[]).map((message) => ({
      role: message.role, channel: message.channel ?? null, recipient: message.recipient ?? null, content_type: message.contentType ?? null,
      token_start: message.tokenStart, token_end: message.tokenEnd, complete: message.complete, text: message.redacted ? null : message.content,
      extra: messageExtra(message),
    })),
    prompt_length: document.promptLength, tokens, logprobs: document.logprobs,
    routing_experts: routing?.experts ?? null, routing_weights: routing?.weights ?? null,
    router_logits: logits && logits.length > 0 ? logits : null,
    attention_sink_mass: attention?.sinkMass ?? null, attention_top_positions: top?.positions ?? null, attention_top_weights: top?.weights ?? null,
  }, where);
}

function isRunDocument(record: Json): boolean {
  return 'promptLength' in record && 'stopReason' in record;
}

async function* parquetRecords(file: string): AsyncGenerator<Json> {
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    yield* (await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd })) as Json[];
    rowStart = rowEnd;
  }
}

async function* jsonRecords(file: string): AsyncGenerator<{ record: Json; text: string }> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let text = '';
  for await (const line of lines) {
    if (extname(file) === '.json') { text += `${line}\n`; continue; }
    if (line.trim()) yield { record: JSON.parse(line) as Json, text: line };
  }
  if (text.trim()) yield { record: JSON.parse(text) as Json, text };
}

/** Rows of a data file, each checked; `where` names the file and row for errors. */
async function* rowsOf(file: string): AsyncGenerator<{ row: DatasetRow; where: string }> {
  let index = 0;
  if (extname(file) === '.parquet') {
    for await (const record of parquetRecords(file)) {
      const where = `${file} row ${++index}`;
      yield { row: rowFromRecord(record, where), where };
    }
    return;
  }
  for await (const { record, text: source } of jsonRecords(file)) {
    const where = `${file} row ${++index}`;
    yield { row: isRunDocument(record) ? rowFromRunDocument(record, source, where) : rowFromRecord(record, where), where };
  }
}

const DATA_EXTENSIONS = new Set(['.parquet', '.jsonl', '.json']);

/** The data files of a dataset folder (its data/ folder when there is one), or the one file given. */
export async function datasetFiles(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  if (entries.some((entry) => entry.isDirectory() && entry.name === 'data')) return datasetFiles(join(path, 'data'));
  return entries.filter((entry) => entry.isFile() && DATA_EXTENSIONS.has(extname(entry.name))).map((entry) => join(path, entry.name)).sort();
}

async function insertReviewData(query: SqlQuery, row: DatasetRow, actor: string): Promise<void> {
  if (row.filtered_cot !== null && row.filter_name && row.filter_version) {
    const redactions = row.filtered_cot_redactions.map((span) => ({
      category: span.category, ruleId: span.rule_id, charStart: span.char_start, charEnd: span.char_end, tokenStart: span.token_start, tokenEnd: span.token_end,
    }));
    await query('INSERT INTO filter_outputs (trace_id, filter_name, filter_version, text, redactions) VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING',
      [row.id, row.filter_name, row.filter_version, row.filtered_cot, JSON.stringify(redactions)]);
  }
  for (const a of row.annotations ?? []) {
    const inserted = await query(
      `INSERT INTO annotations (id, trace_id, message_index, token_start, token_end, char_start, char_end, text, label, severity, note, annotator, kind, review_state, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [a.id, row.id, a.message_index, a.token_start, a.token_end, a.char_start, a.char_end, a.text ?? '', a.label, a.severity, a.note, a.annotator, a.kind, a.review_state, a.created_at, a.updated_at]);
    if (inserted.length === 1) {
      await query("INSERT INTO annotation_revisions (annotation_id, revision, action, actor, snapshot) VALUES ($1, 1, 'create', $2, $3::jsonb) ON CONFLICT DO NOTHING",
        [a.id, actor, JSON.stringify({ ...a, imported: true })]);
    }
  }
  for (const v of row.verdicts ?? []) {
    await query(`INSERT INTO verdicts (trace_id, annotator, verdict, rationale, created_at, updated_at) VALUES ($1, $2, $3::"VerdictValue", $4, $5, $6) ON CONFLICT DO NOTHING`,
      [row.id, v.annotator, v.verdict, v.rationale, v.created_at, v.updated_at]);
  }
}

/** Writes one row as a trace unless its id is taken; true when it was written. */
export async function importRow(store: Store, row: DatasetRow, actor: string): Promise<boolean> {
  const { fast } = store.backend;
  const run = runFromRow(row);
  const model = {
    name: row.model, configHash: row.model_config_hash, numLayers: row.model_shape.num_layers, numExperts: row.model_shape.num_experts,
    expertsPerToken: row.model_shape.experts_per_token, numHeads: row.model_shape.num_heads, hiddenSize: row.model_shape.hidden_size, vocabSize: row.model_shape.vocab_size,
  };
  const sections = row.capture_sections.length > 0 ? row.capture_sections : rowSections(row);
  return fast.transaction(async (query, copyIn) => {
    await ensureModel(query, model);
    const inserted = await query(
      `INSERT INTO traces (id, model_id, prompt_id, prompt, effort, sample_index, temperature, top_p, seed, max_new_tokens, status, stop_reason,
                           prompt_tokens, token_count, prefill_ms, decode_ms, prefill_tps, decode_tps, capture_sections, attention_top_k, created_at, completed_at, device)
       SELECT $1, m.id, $4, $5::jsonb, $6, $7, $8, $9, $10::bigint, $11, $12::"TraceStatus", $13, $14, $15, $16, $17, $18, $19,
              string_to_array($20, ','), $21, $22, $23, $24
         FROM models m WHERE m.name = $2 AND m.config_hash = $3
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [row.id, model.name, model.configHash, row.prompt_id, JSON.stringify(promptFromRow(row)), row.reasoning_effort, row.sample_index,
        run.sampling.temperature, run.sampling.topP, row.sampling.seed.toString(), run.sampling.maxNewTokens, row.status, row.stop_reason,
        run.promptLength, run.tokens.length, run.timings.prefillMs, run.timings.decodeMs, run.timings.prefillTokensPerSecond, run.timings.decodeTokensPerSecond,
        sections.join(','), run.attention?.topK ?? null, row.created_at, row.completed_at, row.device ?? null]);
    if (inserted.length === 0) return false;
    await writeChunks(query, copyIn, row.id, encodeCaptureLazily(run, { includeLogits: row.router_logits !== null && row.router_logits !== undefined }));
    await insertMessages(query, row.id, run.messages);
    if (run.routing) await insertUsage(query, row.id, summarizeExpertUsage(run.routing, run.messages));
    for (const collection of row.collections) await addToCollection(query, collection, [row.id]);
    if (row.tags.length > 0) await addTags(query, row.id, row.tags);
    await insertReviewData(query, row, actor);
    return true;
  });
}

/** Imports every row of the dataset at `path`. */
export async function importDataset(store: Store, path: string, actor: string, onRow?: (summary: ImportSummary) => void): Promise<ImportSummary> {
  const summary: ImportSummary = { imported: 0, skipped: 0, files: await datasetFiles(path) };
  for (const file of summary.files) {
    for await (const { row, where } of rowsOf(file)) {
      const written = await importRow(store, row, actor).catch((error: unknown) => {
        throw new DatasetRowError(`${where} (trace ${row.id})`, error instanceof Error ? error.message : String(error));
      });
      if (written) summary.imported++;
      else summary.skipped++;
      onRow?.(summary);
    }
  }
  return summary;
}
