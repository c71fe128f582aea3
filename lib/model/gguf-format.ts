/**
 * The GGUF container (version 3), the file format llama.cpp loads: a header of typed key/value
 * metadata and tensor descriptions, then the tensor data, each tensor aligned to 32 bytes.
 * All integers are little-endian. Tensor dims are in ggml order: dims[0] is the contiguous axis,
 * so a PyTorch [out, in] matrix is GGUF dims [in, out] with the same bytes.
 *
 * This file knows nothing about gpt-oss; lib/model/gguf.ts maps a checkpoint onto it.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { CheckpointError } from './errors';
import { PieceWriter } from './piece-writer';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types and their on-disk ids. */
export const GGUF_VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;
export type GgufScalar = number | bigint | boolean | string;
export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'array'; itemType: GgufScalarType; values: GgufScalar[] };
export type GgufMetadata = Map<string, GgufValue>;

/** Tensor element types this project writes, with their ggml ids and block geometry. */
export const GGML_TYPES = {
  F32: { id: 0, blockElements: 1, blockBytes: 4 },
  F16: { id: 1, blockElements: 1, blockBytes: 2 },
  BF16: { id: 30, blockElements: 1, blockBytes: 2 },
  /** One E8M0 scale byte then 16 bytes of E2M1 nibbles: element j low, element j+16 high. */
  MXFP4: { id: 39, blockElements: 32, blockBytes: 17 },
} as const;
export type GgmlTypeName = keyof typeof GGML_TYPES;

export interface GgufTensorInfo {
  name: string;
  type: GgmlTypeName;
  /** ggml order: dims[0] is the contiguous (innermost) axis. */
  dims: number[];
}

export interface GgufTensor extends GgufTensorInfo {
  /** The tensor's bytes in chunks, produced when the writer reaches it (so one tensor at a time is in memory). */
  data: () => Iterable<Uint8Array>;
}

export interface GgufFileInfo {
  version: number;
  alignment: number;
  metadata: GgufMetadata;
  tensors: (GgufTensorInfo & { byteOffset: number; byteLength: number })[];
  /** Absolute file offset of the first tensor's data. */
  dataOffset: number;
}

const SCALAR_SIZE: Record<Exclude<GgufScalarType, 'string'>, number> = {
  uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, bool: 1, uint64: 8, int64: 8, float64: 8,
};

const TYPE_NAME_BY_ID = new Map<number, keyof typeof GGUF_VALUE_TYPE>(
  Object.entries(GGUF_VALUE_TYPE).map(([name, id]) => [id, name as keyof typeof GGUF_VALUE_TYPE]),
);
const GGML_TYPE_BY_ID = new Map<number, GgmlTypeName>(
  Object.entries(GGML_TYPES).map(([name, info]) => [info.id, name as GgmlTypeName]),
);

export function alignUp(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}

/** Bytes a tensor occupies; its first dim must be a whole number of blocks. */
export function tensorByteLength(info: GgufTensorInfo): number {
  const { blockElements, blockBytes } = GGML_TYPES[info.type];
  if (info.dims.length === 0 || info.dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new CheckpointError(`GGUF tensor dims must be positive integers (got [${info.dims.join(', ')}])`, { tensor: info.name });
  }
  if (info.dims[0] % blockElements !== 0) {
    throw new CheckpointError(`GGUF ${info.type} tensor's first dim ${info.dims[0]} is not a multiple of its block size ${blockElements}`, { tensor: info.name });
  }
  const elements = info.dims.reduce((a, b) => a * b, 1);
  return (elements / blockElements) * blockBytes;
}

// ---------------------------------------------------------------------------------------------
// Encoding

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function encodeString(sink: ByteSink, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes.length));
  sink.push(length);
  sink.push(bytes);
}

function encodeUint(sink: ByteSink, value: number, bytes: 4 | 8): void {
  const buf = Buffer.alloc(bytes);
  if (bytes === 4) buf.writeUInt32LE(value);
  else buf.writeBigUInt64LE(BigInt(value));
  sink.push(buf);
}

function expectNumber(key: string, type: GgufScalarType, value: GgufScalar): number {
  if (typeof value !== 'number') throw new CheckpointError(`GGUF metadata "${key}" (${type}) must be a number (got ${typeof value})`);
  return value;
}

function encodeScalar(sink: ByteSink, key: string, type: GgufScalarType, value: GgufScalar): void {
  if (type === 'string') {
    if (typeof value !== 'string') throw new CheckpointError(`GGUF metadata "${key}" (string) must be a string (got ${typeof value})`);
    encodeString(sink, value);
    return;
  }
  const buf = Buffer.alloc(SCALAR_SIZE[type]);
  switch (type) {
    case 'bool':
      if (typeof value !== 'boolean') throw new CheckpointError(`GGUF metadata "${key}" (bool) must be a boolean`);
      buf.writeUInt8(value ? 1 : 0);
      break;
    case 'uint64':
    case 'int64': {
      const big = typeof value === 'bigint' ? value : BigInt(expectNumber(key, type, value));
      if (type === 'uint64') buf.writeBigUInt64LE(big);
      else buf.writeBigInt64LE(big);
      break;
    }
    case 'uint8': buf.writeUInt8(expectNumber(key, type, value)); break;
    case 'int8': buf.writeInt8(expectNumber(key, type, value)); break;
    case 'uint16': buf.writeUInt16LE(expectNumber(key, type, value)); break;
    case 'int16': buf.writeInt16LE(expectNumber(key, type, value)); break;
    case 'uint32': buf.writeUInt32LE(expectNumber(key, type, value)); break;
    case 'int32': buf.writeInt32LE(expectNumber(key, type, value)); break;
    case 'float32': buf.writeFloatLE(expectNumber(key, type, value)); break;
    case 'float64': buf.writeDoubleLE(expectNumber(key, type, value)); break;
  }
  sink.push(buf);
}

function encodeKeyValue(sink: ByteSink, key: string, entry: GgufValue): void {
  encodeString(sink, key);
  encodeUint(sink, GGUF_VALUE_TYPE[entry.type], 4);
  if (entry.type !== 'array') {
    encodeScalar(sink, key, entry.type, entry.value);
    return;
  }
  encodeUint(sink, GGUF_VALUE_TYPE[entry.itemType], 4);
  encodeUint(sink, entry.values.length, 8);
  for (const item of entry.values) encodeScalar(sink, key, entry.itemType, item);
}

function alignmentOf(metadata: GgufMetadata): number {
  const entry = metadata.get('general.alignment');
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  const value = entry.type === 'array' ? undefined : Number(entry.value);
  if (value === undefined || !Number.isInteger(value) || value <= 0 || value % 8 !== 0) {
    throw new CheckpointError(`GGUF general.alignment must be a positive multiple of 8 (got ${JSON.stringify(entry)})`);
  }
  return value;
}

/** The header bytes (magic through tensor infos, unpadded) and each tensor's offset in the data section. */
export function encodeGgufHeader(metadata: GgufMetadata, tensors: GgufTensorInfo[]): { header: Buffer; offsets: number[]; byteLengths: number[] } {
  const alignment = alignmentOf(metadata);
  const sink = new ByteSink();
  sink.push(Buffer.from(GGUF_MAGIC, 'ascii'));
  encodeUint(sink, GGUF_VERSION, 4);
  encodeUint(sink, tensors.length, 8);
  encodeUint(sink, metadata.size, 8);
  for (const [key, entry] of metadata) encodeKeyValue(sink, key, entry);

  const seen = new Set<string>();
  const offsets: number[] = [];
  const byteLengths: number[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    if (seen.has(tensor.name)) throw new CheckpointError('GGUF tensor name appears twice', { tensor: tensor.name });
    seen.add(tensor.name);
    const byteLength = tensorByteLength(tensor);
    encodeString(sink, tensor.name);
    encodeUint(sink, tensor.dims.length, 4);
    for (const dim of tensor.dims) encodeUint(sink, dim, 8);
    encodeUint(sink, GGML_TYPES[tensor.type].id, 4);
    encodeUint(sink, offset, 8);
    offsets.push(offset);
    byteLengths.push(byteLength);
    offset = alignUp(offset + byteLength, alignment);
  }
  return { header: sink.toBuffer(), offsets, byteLengths };
}

/**
 * Writes a GGUF file, streaming tensor data one chunk at a time. Throws (naming the tensor) when
 * a tensor yields a different number of bytes than its type and dims require.
 */
export function writeGguf(path: string, metadata: GgufMetadata, tensors: GgufTensor[]): { bytes: number } {
  const alignment = alignmentOf(metadata);
  const { header, offsets, byteLengths } = encodeGgufHeader(metadata, tensors);
  const dataOffset = alignUp(header.length, alignment);
  // Written beside the target and renamed at the end, so a failed export never leaves a broken file.
  const partialPath = `${path}.partial`;
  const fd = openSync(partialPath, 'w');
  let complete = false;
  try {
    const out = new PieceWriter(fd);
    out.append(header);
    let end = dataOffset;
    tensors.forEach((tensor, i) => {
      const start = dataOffset + offsets[i];
      out.padTo(start);
      let produced = 0;
      for (const chunk of tensor.data()) {
        if (produced + chunk.length <= byteLengths[i]) out.append(chunk);
        produced += chunk.length;
      }
      if (produced !== byteLengths[i]) {
        throw new CheckpointError(`GGUF tensor data has the wrong size: ${tensor.type} [${tensor.dims.join(', ')}] needs ${byteLengths[i]} bytes, got ${produced}`, { file: path, tensor: tensor.name });
      }
      end = alignUp(start + produced, alignment);
    });
    out.padTo(end);
    out.finish();
    complete = true;
    return { bytes: end };
  } finally {
    closeSync(fd);
    if (complete) renameSync(partialPath, path);
    else rmSync(partialPath, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding (used by tests and to check a written file)

class HeaderCursor {
  position = 0;
  constructor(private readonly bytes: Buffer, private readonly file: string) {}
  private need(count: number): void {
    if (this.position + count > this.bytes.length) throw new RangeError('header truncated');
  }
  u32(): number { this.need(4); const v = this.bytes.readUInt32LE(this.position); this.position += 4; return v; }
  u64(): number {
    this.need(8);
    const v = this.bytes.readBigUInt64LE(this.position);
    this.position += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`GGUF length ${v} is too large`, { file: this.file });
    return Number(v);
  }
  string(): string { const n = this.u64(); this.need(n); const s = this.bytes.toString('utf8', this.position, this.position + n); this.position += n; return s; }
  scalar(type: GgufScalarType): GgufScalar {
    if (type === 'string') return this.string();
    this.need(SCALAR_SIZE[type]);
    const at = this.position;
    this.position += SCALAR_SIZE[type];
    switch (type) {
      case 'uint8': return this.bytes.readUInt8(at);
      case 'int8': return this.bytes.readInt8(at);
      case 'uint16': return this.bytes.readUInt16LE(at);
      case 'int16': return this.bytes.readInt16LE(at);
      case 'uint32': return this.bytes.readUInt32LE(at);
      case 'int32': return this.bytes.readInt32LE(at);
      case 'float32': return this.bytes.readFloatLE(at);
      case 'float64': return this.bytes.readDoubleLE(at);
      case 'bool': return this.bytes.readUInt8(at) !== 0;
      case 'uint64': return this.bytes.readBigUInt64LE(at);
      case 'int64': return this.bytes.readBigInt64LE(at);
    }
  }
  valueType(key: string): keyof typeof GGUF_VALUE_TYPE {
    const id = this.u32();
    const name = TYPE_NAME_BY_ID.get(id);
    if (!name) throw new CheckpointError(`GGUF metadata "${key}" has unknown value type ${id}`, { file: this.file });
    return name;
  }
}

function parseHeader(bytes: Buffer, file: string, fileSize: number): GgufFileInfo {
  const cursor = new HeaderCursor(bytes, file);
  const magic = bytes.toString('ascii', 0, 4);
  if (magic !== GGUF_MAGIC) throw new CheckpointError(`not a GGUF file (magic ${JSON.stringify(magic)})`, { file });
  cursor.position = 4;
  const version = cursor.u32();
  if (version !== GGUF_VERSION) throw new CheckpointError(`unsupported GGUF version ${version} (expected ${GGUF_VERSION})`, { file });
  const tensorCount = cursor.u64();
  const kvCount = cursor.u64();
  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < kvCount; i++) {
    const key = cursor.string();
    const type = cursor.valueType(key);
    if (type === 'array') {
      const itemType = cursor.valueType(key);
      if (itemType === 'array') throw new CheckpointError(`GGUF metadata "${key}" nests arrays (not supported)`, { file });
      const count = cursor.u64();
      const values: GgufScalar[] = new Array(count);
      for (let j = 0; j < count; j++) values[j] = cursor.scalar(itemType);
      metadata.set(key, { type: 'array', itemType, values });
    } else {
      metadata.set(key, { type, value: cursor.scalar(type) });
    }
  }
  const alignment = alignmentOf(metadata);
  const infos: (GgufTensorInfo & { relativeOffset: number })[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = cursor.string();
    const rank = cursor.u32();
    const dims = Array.from({ length: rank }, () => cursor.u64());
    const typeId = cursor.u32();
    const type = GGML_TYPE_BY_ID.get(typeId);
    if (!type) throw new CheckpointError(`GGUF tensor has ggml type ${typeId}, which this reader does not know`, { file, tensor: name });
    infos.push({ name, dims, type, relativeOffset: cursor.u64() });
  }
  const dataOffset = alignUp(cursor.position, alignment);
  const tensors = infos.map(({ relativeOffset, ...info }) => {
    const byteLength = tensorByteLength(info);
    const byteOffset = dataOffset + relativeOffset;
    if (relativeOffset % alignment !== 0) throw new CheckpointError(`GGUF tensor offset ${relativeOffset} is not aligned to ${alignment}`, { file, tensor: info.name });
    if (byteOffset + byteLength > fileSize) throw new CheckpointError(`GGUF tensor data runs past the end of the file (${byteOffset + byteLength} > ${fileSize})`, { file, tensor: info.name });
    return { ...info, byteOffset, byteLength };
  });
  return { version, alignment, metadata, tensors, dataOffset };
}

/** Reads a GGUF file's header: metadata and tensor descriptions with absolute data offsets. */
export function readGgufInfo(path: string): GgufFileInfo {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    for (let window = Math.min(fileSize, 1 << 24); ; window = Math.min(fileSize, window * 2)) {
      const bytes = Buffer.alloc(window);
      readSync(fd, bytes, 0, window, 0);
      try {
        return parseHeader(bytes, path, fileSize);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        if (window === fileSize) throw new CheckpointError('GGUF header is truncated', { file: path });
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The raw bytes of one tensor of a GGUF file. */
export function readGgufTensorBytes(path: string, info: GgufFileInfo, name: string): Uint8Array {
  const tensor = info.tensors.find((t) => t.name === name);
  if (!tensor) throw new CheckpointError('GGUF file has no such tensor', { file: path, tensor: name });
  const fd = openSync(path, 'r');
  try {
    const bytes = new Uint8Array(tensor.byteLength);
    readSync(fd, bytes, 0, tensor.byteLength, tensor.byteOffset);
    return bytes;
  } finally {
    closeSync(fd);
  }
}
