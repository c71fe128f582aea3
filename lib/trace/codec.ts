/**
 * Binary codec for a trace's capture data: the store keeps a trace as checksummed chunks, one per
 * section and token range, so a viewer loads only the sections and rows it shows.
 *
 * Chunk layout (little-endian), versions 1 and 2:
 *   magic "CSC1" | u16 version | u8 section | u8 flags | u32 tokenStart | u32 tokenCount
 *   | u32 dims[4] | u32 payloadLength | payload (each array 8-byte aligned) | sha256(all before it)
 *
 * Sections and their precision (n tokens, L layers, E experts, H heads, k top-k):
 *   tokens    ids i32 [n], log-probabilities f64 [n] (NaN at prompt positions): exact.
 *   routing   expert ids u8 (u16 when E > 256) [n, L, k]: exact; top-k weights f16 [n, L, k]:
 *             relative error <= 2^-11 (4.9e-4), i.e. 288 bytes/token for gpt-oss-20b.
 *   logits    raw router logits [n, L, E], f16 (same bound; flag LOGITS_F32 keeps f32 when a
 *             value is beyond f16's +-65504). Optional: E values per layer dominate the size.
 *   attention sink mass f16 [n, L, H]; top-k weights f16 [n, L, H, k]; attended positions:
 *             version 2: per layer, [n, H, k] as the offset back from the query token (position =
 *               token - offset), in the narrowest of u8 / u16 / u32 that holds every offset of
 *               that layer in the chunk, the width's all-ones value meaning padding (-1); a layer
 *               with a position after its token (or an offset past i32) keeps absolute positions
 *               as i32. One u8 per layer, first in the payload, names the layer's form (0 = i32).
 *               gpt-oss's sliding layers attend within 128 tokens, so theirs are u8.
 *             version 1 (still read): absolute u16 [n, L, H, k] (0xFFFF = -1 padding; i32 when a
 *               position is >= 65535, flag POSITIONS_I32), after the sink mass and before the weights.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { loadNativeKernels, type NativeKernels } from '../../kernels/native/index';
import { float32ToF16Bits } from '../model/bf16';
import type { AttentionCapture, RoutingCapture, RunResult } from './types';

export const CODEC_VERSION = 2;
/** Versions decodeChunk reads: 1 differs from 2 only in how attention positions are laid out. */
const READABLE_VERSIONS = new Set([1, 2]);
export const DEFAULT_CHUNK_TOKENS = 1024;
/**
 * A section whose rows are large (120b raw router logits: 9.2 KB/token; 20b attention top-8:
 * ~46 KB/token) is split into chunks of chunkTokens / 2^n tokens, the most that stay at or under
 * this size, so the database stores one while this process encodes the next: with 1,024-token
 * chunks of 9.4 MB, a 2,048-token 120b trace with logits waited for its first chunk's whole
 * encoding (22,605 tokens/s into PostgreSQL with 4 MB against 19,047 with 16 MB, medians of 8
 * alternating rounds; an 8k-token load was unchanged). It also keeps PostgreSQL's per-value
 * buffers well below glibc's 32 MB mmap threshold (larger ones are mapped and faulted in afresh
 * for every value).
 */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

export const CHUNK_SECTIONS = ['tokens', 'routing', 'logits', 'attention'] as const;
export type ChunkSection = (typeof CHUNK_SECTIONS)[number];
const SECTION_CODES: Record<ChunkSection, number> = { tokens: 1, routing: 2, logits: 3, attention: 4 };
const SECTION_BY_CODE = new Map(Object.entries(SECTION_CODES).map(([name, code]) => [code, name as ChunkSection]));

const MAGIC = 0x31435343; // "CSC1" read as a little-endian u32
const HEADER_BYTES = 40;
const CHECKSUM_BYTES = 32;
const FLAG_LOGITS_F32 = 1;
const FLAG_POSITIONS_I32 = 2;
const FLAG_EXPERTS_U16 = 4;
const NO_POSITION_U16 = 0xffff;
/** Version-2 attention: how one layer's positions are stored (the code of a width is its byte count). */
const LAYER_POSITIONS_ABSOLUTE_I32 = 0;
const OFFSET_WIDTHS = [1, 2, 4] as const;
type OffsetWidth = (typeof OFFSET_WIDTHS)[number];
/** The all-ones value of each offset width: padding (position -1). */
const PADDING_OFFSET: Record<OffsetWidth, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };

if (endianness() !== 'LE') throw new Error('cotscope trace codec assumes a little-endian machine');

export interface EncodedChunk {
  section: ChunkSection;
  tokenStart: number;
  tokenEnd: number;
  version: number;
  /** sha256 of the chunk before its trailer, hex (also stored in the trailer itself). */
  sha256: string;
  bytes: Uint8Array;
}

export interface TokensChunk { section: 'tokens'; tokenStart: number; tokenEnd: number; tokens: Int32Array; logprobs: Float64Array }
export interface RoutingChunk {
  section: 'routing'; tokenStart: number; tokenEnd: number;
  numLayers: number; numExperts: number; topK: number;
  experts: Uint8Array | Uint16Array; weights: Float32Array;
}
export interface LogitsChunk {
  section: 'logits'; tokenStart: number; tokenEnd: number; numLayers: number; numExperts: number;
  /** Decoded on first read when stored as f16: assembling a trace decodes `halfBits` straight into the trace's array instead. */
  readonly logits: Float32Array;
  /** The stored f16 bits; null when the chunk kept f32. */
  halfBits: Uint16Array | null;
}
export interface AttentionChunk {
  section: 'attention'; tokenStart: number; tokenEnd: number;
  numLayers: number; numHeads: number; topK: number;
  sinkMass: Float32Array; topPositions: Int32Array; topWeights: Float32Array;
}
export type DecodedChunk = TokensChunk | RoutingChunk | LogitsChunk | AttentionChunk;

/** A stored chunk failed its checksum or does not parse: the data must not be used. */
export class CorruptBlobError extends Error {
  constructor(message: string, readonly where: { traceId?: string; section?: string; tokenStart?: number } = {}) {
    const place = [where.traceId && `trace ${where.traceId}`, where.section && `section ${where.section}`,
      where.tokenStart !== undefined && `chunk at token ${where.tokenStart}`].filter(Boolean).join(', ');
    super(place ? `corrupt capture blob (${place}): ${message}` : `corrupt capture blob: ${message}`);
    this.name = 'CorruptBlobError';
  }
}

export interface EncodeOptions {
  /** Tokens per chunk (default 1024). */
  chunkTokens?: number;
  /** Store raw router logits (default true when captured). */
  includeLogits?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Splits a run's capture data into encoded chunks of at most `chunkTokens` tokens per section. */
export function encodeCapture(result: RunResult, options: EncodeOptions = {}): EncodedChunk[] {
  return [...encodeCaptureLazily(result, options)];
}

/** encodeCapture one chunk at a time (the shape is checked before the first), so a writer can send each while the next is encoded. */
export function encodeCaptureLazily(result: RunResult, options: EncodeOptions = {}): Generator<EncodedChunk> {
  checkRunShape(result);
  return chunksOf(result, options);
}

function* chunksOf(result: RunResult, options: EncodeOptions): Generator<EncodedChunk> {
  const chunkTokens = options.chunkTokens ?? DEFAULT_CHUNK_TOKENS;
  const numTokens = result.tokens.length;
  const alignedLogprobs = alignLogprobs(result);
  const { routing, attention } = result;
  const logits = routing && options.includeLogits !== false && routing.logits.length > 0 ? routing : null;
  const logitsTokens = logits ? tokensPerChunk(chunkTokens, logitsBytesPerToken(logits)) : chunkTokens;
  const attentionTokens = attention ? tokensPerChunk(chunkTokens, attentionBytesPerToken(attention)) : chunkTokens;
  for (let start = 0; start < numTokens; start += chunkTokens) {
    const end = Math.min(numTokens, start + chunkTokens);
    yield encodeTokens(result.tokens, alignedLogprobs, start, end);
    if (routing) yield encodeRouting(routing, start, end);
    if (logits) for (const [from, to] of parts(start, end, logitsTokens)) yield encodeLogits(logits, from, to);
    if (attention) for (const [from, to] of parts(start, end, attentionTokens)) yield encodeAttention(attention, from, to);
  }
}

/** [start, end) in consecutive pieces of at most `size` tokens. */
function* parts(start: number, end: number, size: number): Generator<[number, number]> {
  for (let from = start; from < end; from += size) yield [from, Math.min(end, from + size)];
}

/** chunkTokens halved until a chunk of `bytesPerToken` rows fits MAX_CHUNK_BYTES (at least one token). */
function tokensPerChunk(chunkTokens: number, bytesPerToken: number): number {
  let tokens = chunkTokens;
  while (tokens > 1 && tokens * bytesPerToken > MAX_CHUNK_BYTES) tokens = Math.ceil(tokens / 2);
  return tokens;
}

/** A logits row's stored size as f16. */
function logitsBytesPerToken(routing: RoutingCapture): number {
  return routing.numLayers * routing.numExperts * 2;
}

/** An attention row's stored size with u16 positions (sink f16, weights f16, positions u16). */
function attentionBytesPerToken(attention: AttentionCapture): number {
  return attention.numLayers * attention.numHeads * (2 + 4 * attention.topK);
}

function checkRunShape(result: RunResult): void {
  const numTokens = result.tokens.length;
  const generated = numTokens - result.promptLength;
  if (result.promptLength < 0 || generated < 0) throw new Error(`promptLength ${result.promptLength} is outside 0..${numTokens} tokens`);
  if (result.logprobs.length > generated) {
    throw new Error(`${result.logprobs.length} logprobs for ${generated} generated tokens: at most one per generated token`);
  }
  const routing = result.routing;
  if (routing) {
    const rows = numTokens * routing.numLayers;
    expectLength('routing.experts', routing.experts.length, rows * routing.topK);
    expectLength('routing.weights', routing.weights.length, rows * routing.topK);
    if (routing.logits.length !== 0) expectLength('routing.logits', routing.logits.length, rows * routing.numExperts);
    expectLength('routing.numTokens', routing.numTokens, numTokens);
  }
  const attention = result.attention;
  if (attention) {
    const heads = numTokens * attention.numLayers * attention.numHeads;
    expectLength('attention.numTokens', attention.numTokens, numTokens);
    expectLength('attention.sinkMass', attention.sinkMass.length, heads);
    expectLength('attention.topPositions', attention.topPositions.length, heads * attention.topK);
    expectLength('attention.topWeights', attention.topWeights.length, heads * attention.topK);
  }
}

function expectLength(name: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`${name} has ${actual} values, expected ${expected} for this trace's shape`);
}

/** Log-probabilities placed at their token positions (generated tokens come after the prompt). */
function alignLogprobs(result: RunResult): Float64Array {
  const aligned = new Float64Array(result.tokens.length).fill(NaN);
  aligned.set(result.logprobs, result.promptLength);
  return aligned;
}

function encodeTokens(tokens: number[], logprobs: Float64Array, start: number, end: number): EncodedChunk {
  return writeChunk('tokens', start, end, 0, [0, 0, 0, 0], [Int32Array.from(tokens.slice(start, end)), logprobs.subarray(start, end)]);
}

function encodeRouting(routing: RoutingCapture, start: number, end: number): EncodedChunk {
  const perToken = routing.numLayers * routing.topK;
  const experts = routing.experts.subarray(start * perToken, end * perToken);
  const wideIds = routing.numExperts > 256;
  // Same-width ids go in as a view (writeChunk copies them once); Uint8Array.from would iterate.
  const ids = wideIds ? asUint16(experts) : asUint8(experts);
  const weights = halfWriter(routing.weights.subarray(start * perToken, end * perToken));
  return writeChunk('routing', start, end, wideIds ? FLAG_EXPERTS_U16 : 0, [routing.numLayers, routing.numExperts, routing.topK, 0], [ids, weights]);
}

function encodeLogits(routing: RoutingCapture, start: number, end: number): EncodedChunk {
  const perToken = routing.numLayers * routing.numExperts;
  const logits = routing.logits.subarray(start * perToken, end * perToken);
  const dims = [routing.numLayers, routing.numExperts, 0, 0];
  let inHalfRange = true;
  const chunk = writeChunk('logits', start, end, 0, dims, [halfWriter(logits, () => { inHalfRange = false; })]);
  return inHalfRange ? chunk : writeChunk('logits', start, end, FLAG_LOGITS_F32, dims, [logits]);
}

function encodeAttention(attention: AttentionCapture, start: number, end: number): EncodedChunk {
  const perTokenHeads = attention.numLayers * attention.numHeads;
  const perTokenSlots = perTokenHeads * attention.topK;
  const sinkMass = halfWriter(attention.sinkMass.subarray(start * perTokenHeads, end * perTokenHeads));
  const weights = halfWriter(attention.topWeights.subarray(start * perTokenSlots, end * perTokenSlots));
  const layerSlots = (end - start) * attention.numHeads * attention.topK;
  const offsets = offsetScratch(attention.numLayers * layerSlots);
  const layerForms = new Uint8Array(attention.numLayers);
  const layerPositions: PayloadWriter[] = [];
  for (let layer = 0; layer < attention.numLayers; layer++) {
    const layerOffsets = offsets.subarray(layer * layerSlots, (layer + 1) * layerSlots);
    layerForms[layer] = packLayerOffsets(attention, layer, start, end, layerOffsets);
    layerPositions.push(narrowingWriter(layerOffsets, layerForms[layer]));
  }
  return writeChunk('attention', start, end, 0, [attention.numLayers, attention.numHeads, attention.topK, 0],
    [layerForms, sinkMass, weights, ...layerPositions]);
}

/** Offsets are computed as i32; a larger one (never from a real context) keeps absolute positions. */
const MAX_OFFSET = 0x7fffffff - 1;

/** One i32 buffer, grown as needed, for the offsets of the chunk being encoded (encoding is synchronous). */
let offsetBuffer = new Int32Array(0);
function offsetScratch(length: number): Int32Array {
  if (offsetBuffer.length < length) offsetBuffer = new Int32Array(length);
  return offsetBuffer.subarray(0, length);
}

/**
 * Puts one layer's positions in the chunk, [tokens, H, k], into `out` as offsets back from their
 * token and returns how they are to be stored: in the narrowest width that holds them all (the
 * width's all-ones value is padding, -1), or as absolute i32 (then `out` holds the positions) when
 * a position lies after its token or an offset passes i32. Plain loops over one array type: a
 * 1,024-token 20b chunk has 12.6M positions.
 */
function packLayerOffsets(attention: AttentionCapture, layer: number, start: number, end: number, out: Int32Array): number {
  const { numLayers, topPositions } = attention;
  const slotsPerLayer = attention.numHeads * attention.topK;
  let maxOffset = 0;
  let causal = true;
  for (let token = start; token < end; token++) {
    const from = (token * numLayers + layer) * slotsPerLayer;
    const to = (token - start) * slotsPerLayer - from;
    for (let slot = from; slot < from + slotsPerLayer; slot++) {
      const position = topPositions[slot];
      const offset = position === -1 ? -1 : token - position;
      if (offset > maxOffset) maxOffset = offset;
      if (offset < 0 && position !== -1) causal = false;
      out[to + slot] = offset;
    }
  }
  if (causal && maxOffset <= MAX_OFFSET) return OFFSET_WIDTHS.find((bytes) => maxOffset < PADDING_OFFSET[bytes])!;
  for (let token = start; token < end; token++) {
    const from = (token * numLayers + layer) * slotsPerLayer;
    out.set(topPositions.subarray(from, from + slotsPerLayer), (token - start) * slotsPerLayer);
  }
  return LAYER_POSITIONS_ABSOLUTE_I32;
}

/** Writes i32 values in `form`'s width; TypedArray.set narrows natively, -1 (padding) becoming the width's all-ones value. */
function narrowingWriter(values: Int32Array, form: number): PayloadWriter {
  const bytesPerValue = form === LAYER_POSITIONS_ABSOLUTE_I32 ? 4 : form;
  return {
    byteLength: values.length * bytesPerValue,
    write: (into) => {
      const [buffer, at, length] = [into.buffer, into.byteOffset, values.length];
      const target = form === LAYER_POSITIONS_ABSOLUTE_I32 ? new Int32Array(buffer, at, length) : form === 1 ? new Uint8Array(buffer, at, length)
        : form === 2 ? new Uint16Array(buffer, at, length) : new Uint32Array(buffer, at, length);
      target.set(values);
    },
  };
}

function asUint8(ids: Uint8Array | Uint16Array): Uint8Array {
  return ids instanceof Uint8Array ? ids : Uint8Array.from(ids);
}

function asUint16(ids: Uint8Array | Uint16Array): Uint16Array {
  return ids instanceof Uint16Array ? ids : Uint16Array.from(ids);
}

type PayloadArray = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float32Array | Float64Array;
/** A payload part encoded straight into the chunk's buffer (`into` is 8-byte aligned, byteLength long): no copy of a large section. */
interface PayloadWriter { byteLength: number; write(into: Uint8Array): void }
type PayloadPart = PayloadArray | PayloadWriter;

const align8 = (offset: number): number => (offset + 7) & ~7;

function writeChunk(section: ChunkSection, start: number, end: number, flags: number, dims: number[], parts: PayloadPart[]): EncodedChunk {
  let payloadLength = 0;
  for (const part of parts) payloadLength = align8(payloadLength) + part.byteLength;
  payloadLength = align8(payloadLength);
  const bytes = new Uint8Array(HEADER_BYTES + payloadLength + CHECKSUM_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, CODEC_VERSION, true);
  view.setUint8(6, SECTION_CODES[section]);
  view.setUint8(7, flags);
  view.setUint32(8, start, true);
  view.setUint32(12, end - start, true);
  dims.forEach((dim, index) => view.setUint32(16 + index * 4, dim, true));
  view.setUint32(32, payloadLength, true);
  let offset = HEADER_BYTES;
  for (const part of parts) {
    offset = HEADER_BYTES + align8(offset - HEADER_BYTES);
    if ('write' in part) part.write(bytes.subarray(offset, offset + part.byteLength));
    else bytes.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), offset);
    offset += part.byteLength;
  }
  const body = bytes.subarray(0, HEADER_BYTES + payloadLength);
  const digest = createHash('sha256').update(body).digest();
  bytes.set(digest, body.length);
  return { section, tokenStart: start, tokenEnd: end, version: CODEC_VERSION, sha256: digest.toString('hex'), bytes };
}

// ---------------------------------------------------------------------------------------------
// Decoding

export type ChunkPlace = { traceId?: string; section?: string; tokenStart?: number };

/** Throws CorruptBlobError unless the chunk's trailer holds the sha256 of the rest. */
export function verifyChunk(bytes: Uint8Array, where: ChunkPlace = {}): void {
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) throw new CorruptBlobError(`${bytes.length} bytes is shorter than a chunk header`, where);
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  const stored = Buffer.from(bytes.buffer, bytes.byteOffset + body.length, CHECKSUM_BYTES);
  const actual = createHash('sha256').update(body).digest();
  if (!actual.equals(stored)) throw new CorruptBlobError(`sha256 mismatch (stored ${stored.toString('hex').slice(0, 12)}..., computed ${actual.toString('hex').slice(0, 12)}...)`, where);
}

export interface DecodeOptions {
  /** Decode only these rows (token offsets within the chunk, end exclusive); default all. */
  rows?: { start: number; end: number };
  /** The caller already ran verifyChunk on these bytes. */
  verified?: boolean;
}

/**
 * Parses one chunk after verifying its checksum; `where` only names the chunk in errors. With
 * `rows`, only those tokens' values are copied out and decoded (a token inspector needs one row
 * of a 1,024-token chunk).
 */
export function decodeChunk(bytes: Uint8Array, where: ChunkPlace = {}, options: DecodeOptions = {}): DecodedChunk {
  const fail = (message: string): never => { throw new CorruptBlobError(message, where); };
  if (!options.verified) verifyChunk(bytes, where);
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) fail('bad magic number');
  const version = view.getUint16(4, true);
  if (!READABLE_VERSIONS.has(version)) fail(`codec version ${version} is not supported (this build reads ${[...READABLE_VERSIONS].join(' and ')})`);
  const section = SECTION_BY_CODE.get(view.getUint8(6)) ?? fail(`unknown section code ${view.getUint8(6)}`);
  const flags = view.getUint8(7);
  const tokenStart = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  const dims = [0, 1, 2, 3].map((index) => view.getUint32(16 + index * 4, true));
  const payloadLength = view.getUint32(32, true);
  if (HEADER_BYTES + payloadLength !== body.length) fail(`payload length ${payloadLength} does not match the chunk size`);
  const rows = options.rows ?? { start: 0, end: count };
  if (!(rows.start >= 0 && rows.start <= rows.end && rows.end <= count)) fail(`rows ${rows.start}..${rows.end} are outside the chunk's ${count} tokens`);
  const reader = new PayloadReader(bytes, fail, count, rows);
  const rowCount = rows.end - rows.start;
  const [first, last] = [tokenStart + rows.start, tokenStart + rows.end];
  switch (section) {
    case 'tokens':
      return { section, tokenStart: first, tokenEnd: last, tokens: reader.int32(count), logprobs: reader.float64(count) };
    case 'routing': {
      const [numLayers, numExperts, topK] = dims;
      const slots = count * numLayers * topK;
      const experts = flags & FLAG_EXPERTS_U16 ? reader.uint16(slots) : reader.uint8(slots);
      return { section, tokenStart: first, tokenEnd: last, numLayers, numExperts, topK, experts, weights: fromHalf(reader.uint16(slots)) };
    }
    case 'logits': {
      const [numLayers, numExperts] = dims;
      const values = count * numLayers * numExperts;
      const place = { section, tokenStart: first, tokenEnd: last, numLayers, numExperts };
      return flags & FLAG_LOGITS_F32 ? { ...place, logits: reader.float32(values), halfBits: null } : lazyHalfLogits(place, reader.uint16(values));
    }
    case 'attention': {
      const [numLayers, numHeads, topK] = dims;
      const shape = { numLayers, numHeads, topK, tokenStart: first, rowCount };
      const decoded = version === 1 ? readAttentionV1(reader, flags, count, shape) : readAttentionV2(reader, count, shape, fail);
      return { section, tokenStart: first, tokenEnd: last, numLayers, numHeads, topK, ...decoded };
    }
  }
}

function lazyHalfLogits(place: Omit<LogitsChunk, 'logits' | 'halfBits'>, halfBits: Uint16Array): LogitsChunk {
  let logits: Float32Array | null = null;
  return { ...place, halfBits, get logits() { return (logits ??= fromHalf(halfBits)); } };
}

interface AttentionRows { numLayers: number; numHeads: number; topK: number; tokenStart: number; rowCount: number }
type AttentionArrays = Pick<AttentionChunk, 'sinkMass' | 'topPositions' | 'topWeights'>;

function readAttentionV1(reader: PayloadReader, flags: number, count: number, { numLayers, numHeads, topK }: AttentionRows): AttentionArrays {
  const heads = count * numLayers * numHeads;
  const sinkMass = fromHalf(reader.uint16(heads));
  const topPositions = flags & FLAG_POSITIONS_I32 ? reader.int32(heads * topK) : unpackPositionsU16(reader.uint16(heads * topK));
  return { sinkMass, topPositions, topWeights: fromHalf(reader.uint16(heads * topK)) };
}

function unpackPositionsU16(packed: Uint16Array): Int32Array {
  const out = new Int32Array(packed.length);
  for (let i = 0; i < packed.length; i++) out[i] = packed[i] === NO_POSITION_U16 ? -1 : packed[i];
  return out;
}

function readAttentionV2(reader: PayloadReader, count: number, rows: AttentionRows, fail: (message: string) => never): AttentionArrays {
  const { numLayers, numHeads, topK } = rows;
  const layerForms = reader.whole(numLayers);
  const heads = count * numLayers * numHeads;
  const sinkMass = fromHalf(reader.uint16(heads));
  const topWeights = fromHalf(reader.uint16(heads * topK));
  const topPositions = new Int32Array(rows.rowCount * numLayers * numHeads * topK);
  const layerSlots = count * numHeads * topK;
  layerForms.forEach((form, layer) => {
    if (form === LAYER_POSITIONS_ABSOLUTE_I32) placeLayerPositions(topPositions, reader.int32(layerSlots), null, layer, rows);
    else if (form === 1 || form === 2 || form === 4) placeLayerPositions(topPositions, readOffsets(reader, form, layerSlots), PADDING_OFFSET[form], layer, rows);
    else fail(`layer ${layer} has unknown attention position form ${form}`);
  });
  return { sinkMass, topPositions, topWeights };
}

function readOffsets(reader: PayloadReader, width: OffsetWidth, slots: number): Uint8Array | Uint16Array | Uint32Array {
  return width === 1 ? reader.uint8(slots) : width === 2 ? reader.uint16(slots) : reader.uint32(slots);
}

/** Writes one layer's [rows, H, k] positions (absolute, or offsets when `padding` is set) into token-major [rows, L, H, k]. */
function placeLayerPositions(out: Int32Array, stored: Int32Array | Uint8Array | Uint16Array | Uint32Array, padding: number | null, layer: number, rows: AttentionRows): void {
  const slotsPerLayer = rows.numHeads * rows.topK;
  if (padding === null) {
    for (let row = 0; row < rows.rowCount; row++) out.set(stored.subarray(row * slotsPerLayer, (row + 1) * slotsPerLayer), (row * rows.numLayers + layer) * slotsPerLayer);
    return;
  }
  // Widened natively to one array type (see packLayerOffsets); u32 offsets past 2^31 do not occur (i32 positions).
  const values = new Int32Array(stored);
  const paddingAsI32 = padding | 0;
  for (let row = 0; row < rows.rowCount; row++) {
    const token = rows.tokenStart + row;
    const to = (row * rows.numLayers + layer) * slotsPerLayer;
    const from = row * slotsPerLayer;
    for (let slot = 0; slot < slotsPerLayer; slot++) {
      const value = values[from + slot];
      out[to + slot] = value === paddingAsI32 ? -1 : token - value;
    }
  }
}

/**
 * Reads 8-byte-aligned arrays of `tokenCount` rows each from a payload, copying out the rows in
 * `rows` so each typed array owns aligned memory.
 */
class PayloadReader {
  private offset = 0;
  private readonly end: number;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly fail: (message: string) => never,
    private readonly tokenCount: number,
    private readonly rows: { start: number; end: number },
  ) {
    this.end = bytes.length - CHECKSUM_BYTES;
  }
  private take(byteLength: number): ArrayBuffer {
    const start = HEADER_BYTES + align8(this.offset);
    if (start + byteLength > this.end) this.fail('payload is shorter than its header says');
    this.offset = start - HEADER_BYTES + byteLength;
    const rowBytes = this.tokenCount > 0 ? byteLength / this.tokenCount : 0;
    const absolute = this.bytes.byteOffset + start;
    return this.bytes.buffer.slice(absolute + this.rows.start * rowBytes, absolute + this.rows.end * rowBytes) as ArrayBuffer;
  }
  uint8(count: number): Uint8Array { return new Uint8Array(this.take(count)); }
  uint16(count: number): Uint16Array { return new Uint16Array(this.take(count * 2)); }
  uint32(count: number): Uint32Array { return new Uint32Array(this.take(count * 4)); }
  /** An array that is not per token (read whole, whatever rows were asked for). */
  whole(count: number): Uint8Array {
    const start = HEADER_BYTES + align8(this.offset);
    if (start + count > this.end) this.fail('payload is shorter than its header says');
    this.offset = start - HEADER_BYTES + count;
    return this.bytes.slice(start, start + count);
  }
  int32(count: number): Int32Array { return new Int32Array(this.take(count * 4)); }
  float32(count: number): Float32Array { return new Float32Array(this.take(count * 4)); }
  float64(count: number): Float64Array { return new Float64Array(this.take(count * 8)); }
}

// ---------------------------------------------------------------------------------------------
// Assembly

export interface AssembledCapture {
  tokens: number[];
  logprobs: number[];
  routing: RoutingCapture | null;
  attention: AttentionCapture | null;
}

/**
 * Joins decoded chunks back into whole-trace arrays. Chunks must tile [0, numTokens) per section;
 * a gap or overlap is reported as corruption rather than filled with zeros.
 */
export function assembleCapture(chunks: DecodedChunk[], numTokens: number, promptLength: number): AssembledCapture {
  const bySection = (section: ChunkSection) => chunks.filter((chunk) => chunk.section === section).sort((a, b) => a.tokenStart - b.tokenStart);
  const tokenChunks = bySection('tokens') as TokensChunk[];
  checkTiling('tokens', tokenChunks, numTokens);
  const tokens: number[] = [];
  const aligned = new Float64Array(numTokens);
  for (const chunk of tokenChunks) {
    for (const token of chunk.tokens) tokens.push(token);
    aligned.set(chunk.logprobs, chunk.tokenStart);
  }
  const logprobs = Array.from(aligned.subarray(promptLength)).filter((value) => !Number.isNaN(value));
  return { tokens, logprobs, ...assembleCaptureSections(chunks, numTokens) };
}

/** Joins routing, router-logit and attention chunks that tile [0, numTokens) (no token ids needed). */
export function assembleCaptureSections(chunks: DecodedChunk[], numTokens: number): Pick<AssembledCapture, 'routing' | 'attention'> {
  const bySection = (section: ChunkSection) => chunks.filter((chunk) => chunk.section === section).sort((a, b) => a.tokenStart - b.tokenStart);
  return {
    routing: assembleRouting(bySection('routing') as RoutingChunk[], bySection('logits') as LogitsChunk[], numTokens),
    attention: assembleAttention(bySection('attention') as AttentionChunk[], numTokens),
  };
}

function checkTiling(section: string, chunks: DecodedChunk[], numTokens: number): void {
  let expected = 0;
  for (const chunk of chunks) {
    if (chunk.tokenStart !== expected) throw new CorruptBlobError(`chunks do not tile the trace: expected one starting at token ${expected}, found ${chunk.tokenStart}`, { section });
    expected = chunk.tokenEnd;
  }
  if (expected !== numTokens) throw new CorruptBlobError(`chunks cover ${expected} of ${numTokens} tokens`, { section });
}

function concat<T extends PayloadArray>(parts: T[], make: (length: number) => T): T {
  const out = make(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part as never, offset); offset += part.length; }
  return out;
}

function assembleRouting(routingChunks: RoutingChunk[], logitsChunks: LogitsChunk[], numTokens: number): RoutingCapture | null {
  if (routingChunks.length === 0) return null;
  checkTiling('routing', routingChunks, numTokens);
  const { numLayers, numExperts, topK } = routingChunks[0];
  const wide = routingChunks[0].experts instanceof Uint16Array;
  const experts = wide
    ? concat(routingChunks.map((chunk) => chunk.experts as Uint16Array), (length) => new Uint16Array(length))
    : concat(routingChunks.map((chunk) => chunk.experts as Uint8Array), (length) => new Uint8Array(length));
  const weights = concat(routingChunks.map((chunk) => chunk.weights), (length) => new Float32Array(length));
  let logits: Float32Array = new Float32Array(0);
  if (logitsChunks.length > 0) {
    checkTiling('logits', logitsChunks, numTokens);
    logits = concatLogits(logitsChunks);
  }
  return { numTokens, numLayers, numExperts, topK, experts, weights, logits };
}

/** Decodes f16 chunks straight into the joined array: a 120b 8k-token trace's logits are 151 MB as f32, and a copy of them costs ~100 ms. */
function concatLogits(chunks: LogitsChunk[]): Float32Array {
  const lengthOf = (chunk: LogitsChunk) => chunk.halfBits?.length ?? chunk.logits.length;
  const out = new Float32Array(chunks.reduce((sum, chunk) => sum + lengthOf(chunk), 0));
  let offset = 0;
  for (const chunk of chunks) {
    if (chunk.halfBits) halfInto(chunk.halfBits, out.subarray(offset, offset + chunk.halfBits.length));
    else out.set(chunk.logits, offset);
    offset += lengthOf(chunk);
  }
  return out;
}

function assembleAttention(chunks: AttentionChunk[], numTokens: number): AttentionCapture | null {
  if (chunks.length === 0) return null;
  checkTiling('attention', chunks, numTokens);
  const { numLayers, numHeads, topK } = chunks[0];
  return {
    numTokens, numLayers, numHeads, topK,
    sinkMass: concat(chunks.map((chunk) => chunk.sinkMass), (length) => new Float32Array(length)),
    topPositions: concat(chunks.map((chunk) => chunk.topPositions), (length) => new Int32Array(length)),
    topWeights: concat(chunks.map((chunk) => chunk.topWeights), (length) => new Float32Array(length)),
  };
}

// ---------------------------------------------------------------------------------------------
// IEEE 754 binary16 ("f16"); Node 20 has no Float16Array. Encoding rounds to nearest, ties to
// even: relative error <= 2^-11 for normal values, absolute <= 2^-25 below 2^-14.

export const F16_MAX = 65504;


/** One value to its f16 bit pattern (shared with the GGUF writer). */
export const toHalfBits = float32ToF16Bits;

let halfTable: Float32Array | null = null;

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[bits] = mantissa ? NaN : sign * Infinity;
    else table[bits] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return table;
}

export function fromHalfBits(bits: number): number {
  halfTable ??= buildHalfTable();
  return halfTable[bits];
}

/** f32 bit patterns whose magnitude rounds to a normal, finite f16: [2^-14, 65520). */
const NORMAL_HALF_MIN_BITS = 0x38800000;
const HALF_OVERFLOW_BITS = 0x477ff000;
/** (127 - 15) << 23: rebiases the f32 exponent to f16's. */
const EXPONENT_REBIAS = 0x38000000;

/**
 * Bulk f32 -> f16 on the raw bits. For the normal range (nearly all routing and attention
 * weights) rounding to nearest-even is one add: 0xfff plus the kept mantissa's lowest bit, then
 * a shift, whose carry bumps the exponent exactly as it should. Everything else (subnormals,
 * zero, overflow, Inf, NaN) goes through toHalfBits.
 */
export function encodeHalf(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const word = bits[i];
    const magnitude = word & 0x7fffffff;
    if (magnitude >= NORMAL_HALF_MIN_BITS && magnitude < HALF_OVERFLOW_BITS) {
      out[i] = ((word >>> 16) & 0x8000) | ((magnitude - EXPONENT_REBIAS + 0xfff + ((magnitude >>> 13) & 1)) >>> 13);
    } else {
      out[i] = toHalfBits(values[i]);
    }
  }
  return out;
}

export function decodeHalf(bits: Uint16Array): Float32Array {
  halfTable ??= buildHalfTable();
  const table = halfTable;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/**
 * The native f16 loops (F16C; self-tested against the TypeScript ones at load) when the addon
 * loaded, else null: the same bits either way, 10-20x faster on the logits of a long trace.
 */
let nativeHalf: NativeKernels | null | undefined;
function nativeHalfKernels(): NativeKernels | null {
  if (nativeHalf === undefined) {
    const load = loadNativeKernels();
    nativeHalf = load.ok ? load.kernels : null;
  }
  return nativeHalf;
}

/** Writes the f16 bits of `values` into the chunk; calls `outOfRange` when a finite value lies beyond f16's range (such logits stay f32). */
function halfWriter(values: Float32Array, outOfRange?: () => void): PayloadWriter {
  return {
    byteLength: values.length * 2,
    write: (into) => {
      const out = new Uint16Array(into.buffer, into.byteOffset, values.length);
      const native = nativeHalfKernels();
      if (native) {
        if (!native.f32ToF16(values, out)) outOfRange?.();
        return;
      }
      if (outOfRange && !fitsHalfRange(values)) outOfRange();
      out.set(encodeHalf(values));
    },
  };
}

function fromHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  halfInto(bits, out);
  return out;
}

function halfInto(bits: Uint16Array, out: Float32Array): void {
  const native = nativeHalfKernels();
  if (native) native.f16ToF32(bits, out);
  else out.set(decodeHalf(bits));
}

/** True when every finite value fits f16's range (so f16 keeps it finite). */
export function fitsHalfRange(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if ((value > F16_MAX || value < -F16_MAX) && Number.isFinite(value)) return false;
  }
  return true;
}
