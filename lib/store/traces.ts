/**
 * Trace write path and single-trace read. A trace is `running` from create() until complete()
 * writes blobs, messages, usage summary and the status flip in ONE transaction; anything that
 * stops it earlier leaves it running (then failed by recoverStale) or failed, never complete.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { assembleCapture, CHUNK_SECTIONS, CorruptBlobError, decodeChunk, encodeCaptureLazily, verifyChunk, type ChunkSection, type EncodedChunk } from '../trace/codec';
import { summarizeExpertUsage, type LayerUsageRow } from '../trace/summary';
import type { RunResult, StopReason, TraceMessage } from '../trace/types';
import { BASE64_BYTES, retryOnConnectionLoss, type Backend, type CopyIn, type FastSql, type SqlQuery } from './backend';
import { COPY_HEADER, COPY_TRAILER, copyRow, readCopyRows } from './binary-copy';
import { currentOwner, staleReason } from './owner';
import { isPlainlyVisible } from '../trace/visibility';
import type { CompleteOptions, GetOptions, ModelIdentity, NewTrace, PromptMessage, StoredMessage, StoredTrace, TraceStatus } from './types';

export class TraceStateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TraceStateError';
  }
}

/** Bytes per INSERT statement: small enough that encoding the next batch overlaps storing this one. */
const PIPELINED_INSERT_BYTES = 4 * 1024 * 1024;

/**
 * Inserts the model when new (a concurrent insert of the same model waits, then does nothing);
 * the next statement sees it either way. Plain SQL: Prisma's upsert + interactive transaction
 * cost ~60 ms per trace here, more than writing a 4k-token trace's routing data.
 */
export async function ensureModel(query: SqlQuery, model: ModelIdentity): Promise<void> {
  await query(
    `INSERT INTO models (id, name, config_hash, num_layers, num_experts, experts_per_token, num_heads, hidden_size, vocab_size)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name, config_hash) DO NOTHING`,
    [randomUUID(), model.name, model.configHash, model.numLayers, model.numExperts, model.expertsPerToken, model.numHeads, model.hiddenSize, model.vocabSize]);
}

export async function createTrace(backend: Backend, input: NewTrace): Promise<string> {
  const owner = currentOwner();
  const id = randomUUID();
  const { sampling } = input;
  await retryOnConnectionLoss((tryNumber) => backend.fast.transaction(async (query) => {
    if (tryNumber > 0 && (await query('SELECT 1 FROM traces WHERE id = $1', [id])).length > 0) return; // an earlier try committed
    await ensureModel(query, input.model);
    const inserted = await query(
      `INSERT INTO traces (id, model_id, prompt_id, prompt, effort, sample_index, temperature, top_p, seed, max_new_tokens,
                           status, owner_pid, owner_host, heartbeat_at, capture_key, job_id)
       SELECT $1, m.id, $4, $5::jsonb, $6, $7, $8, $9, $10::bigint, $11, 'running', $12, $13, now(), $14, $15
         FROM models m WHERE m.name = $2 AND m.config_hash = $3
       RETURNING id`,
      [id, input.model.name, input.model.configHash, input.promptId ?? null, JSON.stringify(input.prompt), input.effort ?? null,
        input.sampleIndex ?? 0, sampling.temperature, sampling.topP, String(BigInt(sampling.seed)), sampling.maxNewTokens, owner.pid, owner.host,
        input.captureKey ?? null, input.jobId ?? null]);
    if (inserted.length !== 1) throw new Error(`model ${input.model.name} (${input.model.configHash}) vanished while creating trace ${id}`);
    if (input.collection) await addToCollection(query, input.collection, [id]);
    if (input.tags?.length) await addTags(query, id, input.tags);
  }), { location: backend.location });
  return id;
}

export async function addToCollection(query: SqlQuery, name: string, traceIds: string[]): Promise<void> {
  await query('INSERT INTO collections (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [randomUUID(), name]);
  await query(
    `INSERT INTO collection_traces (collection_id, trace_id)
     SELECT c.id, t.id FROM collections c, jsonb_array_elements_text($2::jsonb) AS t(id) WHERE c.name = $1
     ON CONFLICT DO NOTHING`,
    [name, JSON.stringify(traceIds)]);
}

export async function addTags(query: SqlQuery, traceId: string, names: string[]): Promise<void> {
  const tags = [...new Set(names)].map((name) => ({ id: randomUUID(), name }));
  await query('INSERT INTO tags (id, name) SELECT t.id, t.name FROM jsonb_to_recordset($1::jsonb) AS t(id text, name text) ON CONFLICT (name) DO NOTHING',
    [JSON.stringify(tags)]);
  await query(
    `INSERT INTO trace_tags (trace_id, tag_id)
     SELECT $1, tags.id FROM tags WHERE tags.name IN (SELECT jsonb_array_elements_text($2::jsonb))
     ON CONFLICT DO NOTHING`,
    [traceId, JSON.stringify(tags.map((tag) => tag.name))]);
}

/** Records that the trace's owner is alive; false when the trace is no longer running (someone else failed it). */
export async function heartbeat(backend: Backend, id: string): Promise<boolean> {
  const updated = await backend.fast.query("UPDATE traces SET heartbeat_at = now() WHERE id = $1 AND status = 'running' RETURNING id", [id]);
  return updated.length === 1;
}

/** Writes everything of a finished run and flips the status, all in one transaction. */
export async function completeTrace(backend: Backend, id: string, result: RunResult, options: CompleteOptions = {}): Promise<void> {
  const usage = result.routing ? summarizeExpertUsage(result.routing, result.messages) : [];
  const status: TraceStatus = result.stopReason === 'cancelled' ? 'cancelled' : 'complete';
  await retryOnConnectionLoss((tryNumber) => backend.fast.transaction(async (query, copyIn) => {
    const rows = await query<{ status: TraceStatus; token_count: number }>('SELECT status::text AS status, token_count FROM traces WHERE id = $1 FOR UPDATE', [id]);
    if (rows.length === 0) throw new TraceStateError(`trace ${id} does not exist`);
    // The connection dropped after an earlier try's COMMIT reached the server: that try wrote it.
    if (tryNumber > 0 && rows[0].status === status && rows[0].token_count === result.tokens.length) return;
    if (rows[0].status !== 'running') throw new TraceStateError(`trace ${id} is ${rows[0].status}, not running: it cannot be completed`);
    // Encoded afresh on each try: the lazy encoder is used up by a try that lost its connection.
    await writeChunks(query, copyIn, id, encodeCaptureLazily(result, options));
    await insertMessages(query, id, result.messages);
    if (usage.length > 0) await insertUsage(query, id, usage);
    const timings = result.timings;
    await query(
      `UPDATE traces SET status = $2::"TraceStatus", stop_reason = $3, prompt_tokens = $4, token_count = $5, prefill_ms = $6, decode_ms = $7,
              prefill_tps = $8, decode_tps = $9, capture_sections = string_to_array($10, ','), attention_top_k = $11, device = $12,
              heartbeat_at = now(), completed_at = now() WHERE id = $1`,
      [id, status, result.stopReason, result.promptLength, result.tokens.length, timings.prefillMs, timings.decodeMs,
        timings.prefillTokensPerSecond, timings.decodeTokensPerSecond, capturedSections(result, options).join(','), result.attention?.topK ?? null,
        result.device ?? null]);
  }), { location: backend.location }).catch((error: unknown) => {
    if (isSecondCompletion(error)) throw new TraceStateError(`trace ${id}: its job already has a complete trace`, { cause: error });
    throw error;
  });
}

/** The database refused a second complete trace for one queued job (partial unique index, lib/jobs). */
export function isSecondCompletion(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const pgError = current as { code?: string; constraint?: string };
    if (pgError.code === '23505' && pgError.constraint === 'traces_one_complete_per_job') return true;
  }
  return false;
}

export async function insertMessages(query: SqlQuery, traceId: string, messages: TraceMessage[]): Promise<void> {
  await query(
    `INSERT INTO messages (trace_id, index, role, channel, recipient, content_type, token_start, token_end, complete, text, extra)
     SELECT $1, m.index, m.role, m.channel, m.recipient, m."contentType", m."tokenStart", m."tokenEnd", m.complete, m.text, m.extra
       FROM jsonb_to_recordset($2::jsonb) AS m(index int, role text, channel text, recipient text, "contentType" text,
            "tokenStart" int, "tokenEnd" int, complete boolean, text text, extra jsonb)`,
    [traceId, JSON.stringify(messages.map((message, index) => messageRow(index, message)))]);
}

const MESSAGE_FIELDS = new Set(['role', 'channel', 'recipient', 'contentType', 'content', 'tokenStart', 'tokenEnd', 'complete']);

function messageRow(index: number, message: TraceMessage) {
  for (const field of ['tokenStart', 'tokenEnd'] as const) {
    if (!Number.isInteger(message[field])) throw new Error(`message ${index}: ${field} must be an integer (got ${message[field]})`);
  }
  const extra = Object.fromEntries(Object.entries(message).filter(([key, value]) => !MESSAGE_FIELDS.has(key) && value !== undefined));
  return {
    index,
    role: message.role,
    channel: message.channel,
    recipient: message.recipient,
    contentType: message.contentType,
    tokenStart: message.tokenStart,
    tokenEnd: message.tokenEnd,
    complete: message.complete,
    // PostgreSQL text cannot hold NUL; the exact bytes stay recoverable from the token ids.
    text: message.content.replaceAll('\u0000', '\uFFFD'),
    extra: Object.keys(extra).length > 0 ? extra : null,
  };
}

export async function insertUsage(query: SqlQuery, traceId: string, usage: LayerUsageRow[]): Promise<void> {
  await query(
    `INSERT INTO expert_usage (trace_id, channel, layer, counts, weight_sums)
     SELECT $1, u.channel, u.layer, u.counts, u."weightSums" FROM jsonb_to_recordset($2::jsonb) AS u(channel text, layer int, counts int[], "weightSums" float8[])`,
    [traceId, JSON.stringify(usage)]);
}

const CHUNK_COLUMNS = 'trace_id, section, token_start, token_end, version, byte_length, sha256, data';

/** Writes a trace's chunks inside a transaction: by binary COPY where the backend has it (PostgreSQL), else by INSERT. */
export async function writeChunks(query: SqlQuery, copyIn: CopyIn | null, traceId: string, chunks: Iterable<EncodedChunk>): Promise<void> {
  await (copyIn ? copyChunks(copyIn, traceId, chunks) : insertChunks(query, traceId, chunks));
}

/** PostgreSQL: one binary COPY streaming the chunks as they are encoded (bytea as raw bytes, not hex text). */
async function copyChunks(copyIn: CopyIn, traceId: string, chunks: Iterable<EncodedChunk>): Promise<void> {
  function* data(): Generator<Uint8Array> {
    yield COPY_HEADER;
    for (const chunk of chunks) {
      yield* copyRow([traceId, chunk.section, chunk.tokenStart, chunk.tokenEnd, chunk.version, chunk.bytes.length, chunk.sha256, chunk.bytes]);
    }
    yield COPY_TRAILER;
  }
  await copyIn(`COPY trace_chunks (${CHUNK_COLUMNS}) FROM STDIN (FORMAT binary)`, data());
}

/**
 * PGlite: sends each batch of chunks without waiting for it before encoding the next: the database stores
 * one batch while this process encodes the next (at most one batch in flight).
 */
async function insertChunks(query: SqlQuery, traceId: string, chunks: Iterable<EncodedChunk>): Promise<void> {
  let batch: EncodedChunk[] = [];
  let batchBytes = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    if (batch.length === 0) return;
    const params: unknown[] = [traceId];
    const tuples = batch.map((chunk) => {
      const base = params.length;
      params.push(chunk.section, chunk.tokenStart, chunk.tokenEnd, chunk.version, chunk.bytes.length, chunk.sha256, BASE64_BYTES.value(chunk.bytes));
      return `($1, $${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5}, $${base + 6}, ${BASE64_BYTES.param(base + 7)})`;
    });
    await inFlight;
    inFlight = query(`INSERT INTO trace_chunks (${CHUNK_COLUMNS}) VALUES ${tuples.join(', ')}`, params);
    inFlight.catch(() => undefined); // awaited below; this only keeps an early rejection from being unhandled
    batch = [];
    batchBytes = 0;
  };
  for (const chunk of chunks) {
    if (batchBytes + chunk.bytes.length > PIPELINED_INSERT_BYTES) await flush();
    batch.push(chunk);
    batchBytes += chunk.bytes.length;
  }
  await flush();
  await inFlight;
}

export async function failTrace(backend: Backend, id: string, error: string, status: 'failed' | 'cancelled' = 'failed'): Promise<boolean> {
  const updated = await retryOnConnectionLoss(
    () => backend.prisma.trace.updateMany({ where: { id, status: 'running' }, data: { status, error, completedAt: new Date() } }),
    { location: backend.location });
  return updated.count === 1;
}

/** Marks running traces whose owner is gone as failed; returns their ids. */
export async function recoverStale(backend: Backend, staleAfterMs?: number): Promise<string[]> {
  const running = await backend.prisma.trace.findMany({ where: { status: 'running' }, select: { id: true, ownerPid: true, ownerHost: true, heartbeatAt: true } });
  const now = new Date();
  const recovered: string[] = [];
  for (const trace of running) {
    const reason = staleReason(trace, now, staleAfterMs);
    if (reason && (await failTrace(backend, trace.id, `interrupted: ${reason}`))) recovered.push(trace.id);
  }
  return recovered;
}

interface ChunkRow { section: ChunkSection; token_start: number; token_end: number; data: unknown }

/** Sections a run's chunks hold (encodeCapture's rule), in a fixed order. */
function capturedSections(result: RunResult, options: CompleteOptions): ChunkSection[] {
  const routing = result.routing !== null;
  const present: Record<ChunkSection, boolean> = {
    tokens: true, routing, logits: routing && options.includeLogits !== false && result.routing!.logits.length > 0, attention: result.attention !== null,
  };
  return CHUNK_SECTIONS.filter((section) => present[section]);
}

/** A stored chunk's bytes, checksum verified, not yet decoded. */
export interface StoredChunk { section: ChunkSection; tokenStart: number; tokenEnd: number; bytes: Uint8Array }

/**
 * Verified chunks of the given sections (all, or those holding token `at`). A section the trace
 * records as captured that has no chunk is corruption, never "not captured".
 */
async function readChunks(backend: Backend, id: string, sections: ChunkSection[], captured: readonly string[], at?: number): Promise<StoredChunk[]> {
  const { fast } = backend;
  const toChunk = (row: ChunkRow): StoredChunk => {
    const bytes = row.data instanceof Uint8Array ? row.data : BASE64_BYTES.read(row.data);
    verifyChunk(bytes, { traceId: id, section: row.section, tokenStart: row.token_start });
    return { section: row.section, tokenStart: row.token_start, tokenEnd: row.token_end, bytes };
  };
  const ofTrace = `trace_id = ${pg.escapeLiteral(id)}`;
  const inSections = `section = ANY(string_to_array(${pg.escapeLiteral(sections.join(','))}, ','))`;
  let chunks: StoredChunk[];
  if (at !== undefined) {
    chunks = (await selectChunks(fast, `${ofTrace} AND ${inSections} AND token_start <= ${Math.trunc(at)} AND token_end > ${Math.trunc(at)}`)).map(toChunk);
  } else {
    // Whole sections: large ones chunk by chunk over several connections, so PostgreSQL detoasts one while this
    // process verifies the last; small ones in one statement, where the round trips would cost more than they save.
    const keys = await fast.query<{ section: ChunkSection; token_start: number; bytes: number }>(
      `SELECT section, token_start, octet_length(data) AS bytes FROM trace_chunks WHERE ${ofTrace} AND ${inSections} ORDER BY section, token_start`);
    if (keys.reduce((total, key) => total + Number(key.bytes), 0) <= SINGLE_READ_BYTES) {
      return checkCaptured(id, sections, captured, (await selectChunks(fast, `${ofTrace} AND ${inSections}`)).map(toChunk));
    }
    chunks = [];
    let next = 0;
    const reader = async () => {
      while (next < keys.length) {
        const key = keys[next++];
        const [row] = await selectChunks(fast, `${ofTrace} AND section = ${pg.escapeLiteral(key.section)} AND token_start = ${Math.trunc(key.token_start)}`);
        if (!row) throw new CorruptBlobError('chunk vanished while the trace was read', { traceId: id, section: key.section, tokenStart: key.token_start });
        chunks.push(toChunk(row));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CHUNK_READS, keys.length) }, reader));
  }
  return checkCaptured(id, sections, captured, chunks);
}

/** The chunks, once every captured section among those asked for has some. */
function checkCaptured(id: string, sections: ChunkSection[], captured: readonly string[], chunks: StoredChunk[]): StoredChunk[] {
  for (const section of sections) {
    if (captured.includes(section) && !chunks.some((chunk) => chunk.section === section)) {
      throw new CorruptBlobError(`the trace records a ${section} capture but its chunks are missing`, { traceId: id, section });
    }
  }
  return chunks;
}

/**
 * Chunk rows matching `condition`, which is built from escaped literals because COPY takes no
 * parameters. PostgreSQL sends them by binary COPY (the bytes as they are); PGlite as base64 text.
 */
async function selectChunks(fast: FastSql, condition: string): Promise<ChunkRow[]> {
  const columns = 'section, token_start, token_end';
  if (fast.copyOut) return copiedChunkRows(await fast.copyOut(`COPY (SELECT ${columns}, data FROM trace_chunks WHERE ${condition}) TO STDOUT (FORMAT binary)`));
  return fast.query<ChunkRow>(`SELECT ${columns}, ${BASE64_BYTES.select('data')} AS data FROM trace_chunks WHERE ${condition}`);
}

/** Rows of `COPY (SELECT section, token_start, token_end, data ...) TO STDOUT (FORMAT binary)`. */
function copiedChunkRows(data: Buffer): ChunkRow[] {
  return readCopyRows(data).map(([section, tokenStart, tokenEnd, bytes]) => {
    if (!section || !tokenStart || !tokenEnd || !bytes) throw new Error('trace_chunks row with a NULL column');
    return { section: section.toString('utf8') as ChunkSection, token_start: tokenStart.readInt32BE(0), token_end: tokenEnd.readInt32BE(0), data: bytes };
  });
}

function requestedSections(options: { sections?: ChunkSection[] }): ChunkSection[] {
  return ['tokens', ...(options.sections ?? ['routing', 'logits', 'attention']).filter((section) => section !== 'tokens')];
}

/** The verified chunks of `sections` that hold token `index` (null when the trace does not exist). */
export async function getChunksAt(backend: Backend, id: string, index: number, sections: ChunkSection[]): Promise<StoredChunk[] | null> {
  const trace = await backend.prisma.trace.findUnique({ where: { id, deletedAt: null }, select: { captureSections: true } });
  return trace && readChunks(backend, id, sections, trace.captureSections, index);
}

/** Chunk reads in flight at once: PostgreSQL detoasts each on its own backend while this process decodes the last. */
const PARALLEL_CHUNK_READS = 4;
/** A trace part up to this size is read in one statement. */
const SINGLE_READ_BYTES = 8 * 1024 * 1024;

export async function getTrace(backend: Backend, id: string, options: GetOptions): Promise<StoredTrace | null> {
  const trace = await backend.prisma.trace.findUnique({
    // A soft-deleted trace (lib/review/curation.ts) is gone for every reader.
    where: { id, deletedAt: null },
    include: {
      model: true,
      messages: { orderBy: { index: 'asc' } },
      collections: { include: { collection: true } },
      tags: { include: { tag: true } },
    },
  });
  if (!trace) return null;
  const chunks = await readChunks(backend, id, requestedSections(options), trace.captureSections);
  const decoded = chunks.map((chunk) => decodeChunk(chunk.bytes, { traceId: id, section: chunk.section, tokenStart: chunk.tokenStart }, { verified: true }));
  const capture = assembleCapture(decoded, trace.tokenCount, trace.promptTokens);
  const messages: StoredMessage[] = trace.messages.map((row) => ({
    ...(row.extra as Record<string, unknown> | null),
    role: row.role, channel: row.channel, recipient: row.recipient, contentType: row.contentType,
    content: row.text, tokenStart: row.tokenStart, tokenEnd: row.tokenEnd, complete: row.complete,
  }));
  const prompt = Array.isArray(trace.prompt) ? (trace.prompt as unknown as PromptMessage[]).map((message) => ({ ...message })) : [];
  if (!options.includeRawCot) redactRawCot(messages, capture.tokens, trace.promptTokens, prompt);
  const { model } = trace;
  return {
    id: trace.id,
    status: trace.status,
    model: { name: model.name, configHash: model.configHash },
    tokens: capture.tokens,
    promptLength: trace.promptTokens,
    messages,
    logprobs: capture.logprobs,
    routing: capture.routing,
    attention: capture.attention,
    sampling: { temperature: trace.temperature, topP: trace.topP, seed: Number(trace.seed), maxNewTokens: trace.maxNewTokens },
    stopReason: (trace.stopReason ?? 'cancelled') as StopReason,
    timings: {
      prefillMs: trace.prefillMs ?? 0, decodeMs: trace.decodeMs ?? 0,
      prefillTokensPerSecond: trace.prefillTps ?? 0, decodeTokensPerSecond: trace.decodeTps ?? 0,
    },
    ...(trace.device ? { device: trace.device } : {}),
    metadata: {
      promptId: trace.promptId,
      prompt,
      effort: trace.effort,
      sampleIndex: trace.sampleIndex,
      collections: trace.collections.map((link) => link.collection.name).sort(),
      tags: trace.tags.map((link) => link.tag.name).sort(),
      error: trace.error,
      createdAt: trace.createdAt.toISOString(),
      completedAt: trace.completedAt?.toISOString() ?? null,
      owner: { pid: trace.ownerPid, host: trace.ownerHost, heartbeatAt: trace.heartbeatAt?.toISOString() ?? null },
      model: {
        name: model.name, configHash: model.configHash, numLayers: model.numLayers, numExperts: model.numExperts,
        expertsPerToken: model.expertsPerToken, numHeads: model.numHeads, hiddenSize: model.hiddenSize, vocabSize: model.vocabSize,
      },
      rawCotIncluded: options.includeRawCot,
      capture: { sections: trace.captureSections as ChunkSection[], attentionTopK: trace.attentionTopK },
    },
  };
}

/**
 * Withholds, fail-closed, every message not plainly prompt or final answer (lib/trace/visibility.ts):
 * its text, its header words and its token ids (ids decode back to the text). Prompt messages stored
 * as written (an assistant analysis message in a JSONL `messages` prompt) lose their text the same way.
 */
export function redactRawCot(messages: StoredMessage[], tokens: number[], promptLength: number, prompt: PromptMessage[]): void {
  messages.forEach((message, index) => {
    if (isPlainlyVisible(message, promptLength)) return;
    messages[index] = {
      role: message.role, channel: message.channel, recipient: null, contentType: null, content: '',
      tokenStart: message.tokenStart, tokenEnd: message.tokenEnd, complete: message.complete, redacted: true,
    };
    tokens.fill(-1, Math.max(0, message.tokenStart), Math.min(message.tokenEnd, tokens.length));
  });
  prompt.forEach((message, index) => {
    if (!isPlainlyVisible(message)) prompt[index] = { role: message.role, content: '', ...(message.channel !== undefined ? { channel: message.channel } : {}), redacted: true };
  });
}
