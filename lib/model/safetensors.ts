/**
 * safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and [begin, end) byte range inside the data section, then the data section.
 * The reader keeps a file descriptor and reads one tensor (or a slice of one) at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './errors';
import { PieceWriter } from './piece-writer';

export type SafetensorsDtype = 'BOOL' | 'U8' | 'I8' | 'U16' | 'I16' | 'F16' | 'BF16' | 'U32' | 'I32' | 'F32' | 'U64' | 'I64' | 'F64';

export const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  BOOL: 1, U8: 1, I8: 1, U16: 2, I16: 2, F16: 2, BF16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
};

/** The header is read into memory whole; real headers are well under 1 MiB. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const HEADER_LENGTH_BYTES = 8;
const METADATA_KEY = '__metadata__';

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The file holding it. */
  file: string;
  /** Absolute byte offset of the tensor's first byte in the file. */
  offset: number;
  byteLength: number;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}

function isNonNegativeInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function readExactly(fd: number, length: number, position: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const got = fs.readSync(fd, bytes, done, length - done, position + done);
    if (got === 0) break;
    done += got;
  }
  return done === length ? bytes : bytes.subarray(0, done);
}

/** Parses one header entry, checking its fields and that its byte range fits the shape. */
function parseEntry(name: string, raw: unknown, file: string, dataStart: number): TensorEntry {
  const fail = (what: string): never => {
    throw new CheckpointError(`bad safetensors header: ${what}`, { file, tensor: name });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('entry is not an object');
  const entry = raw as Record<string, unknown>;
  if (!isDtype(entry.dtype)) return fail(`unknown dtype ${JSON.stringify(entry.dtype)}`);
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) return fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt) || offsets[1] < offsets[0]) {
    return fail(`data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair`);
  }
  const [begin, end] = offsets as [number, number];
  const expectedBytes = elementCount(shape as number[]) * DTYPE_BYTES[entry.dtype];
  if (end - begin !== expectedBytes) {
    return fail(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${entry.dtype} ${JSON.stringify(shape)} needs ${expectedBytes}`);
  }
  return { name, dtype: entry.dtype, shape: shape as number[], file, offset: dataStart + begin, byteLength: expectedBytes };
}

/** Checks that no two tensors share bytes. */
function checkNoOverlap(entries: TensorEntry[], file: string): void {
  const byOffset = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const previous = byOffset[i - 1];
    if (byOffset[i].offset < previous.offset + previous.byteLength && byOffset[i].byteLength > 0) {
      throw new CheckpointError(`bad safetensors header: tensor overlaps ${previous.name}`, { file, tensor: byOffset[i].name });
    }
  }
}

/** One open safetensors file. Call close() when done. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  private fd: number | null;

  private constructor(filePath: string, fd: number, tensors: Map<string, TensorEntry>, metadata: Record<string, string>) {
    this.path = filePath;
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens and validates a file; throws CheckpointError naming the file (and tensor) on any defect. */
  static open(filePath: string): SafetensorsFile {
    const file = path.resolve(filePath);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (error) {
      throw new CheckpointError(`cannot open safetensors file: ${(error as Error).message}`, { file });
    }
    try {
      const { tensors, metadata } = SafetensorsFile.readHeader(fd, file);
      return new SafetensorsFile(file, fd, tensors, metadata);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  private static readHeader(fd: number, file: string): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < HEADER_LENGTH_BYTES) {
      throw new CheckpointError(`truncated safetensors file: ${fileSize} bytes, shorter than the 8-byte header length`, { file });
    }
    const headerLength = Number(Buffer.from(readExactly(fd, HEADER_LENGTH_BYTES, 0)).readBigUInt64LE(0));
    if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) {
      throw new CheckpointError(`bad safetensors header length ${headerLength} (not a safetensors file?)`, { file });
    }
    const dataStart = HEADER_LENGTH_BYTES + headerLength;
    if (dataStart > fileSize) {
      throw new CheckpointError(`truncated safetensors file: header says ${headerLength} header bytes but the file has ${fileSize} bytes`, { file });
    }
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(readExactly(fd, headerLength, HEADER_LENGTH_BYTES)));
    } catch (error) {
      throw new CheckpointError(`bad safetensors header: not JSON (${(error as Error).message})`, { file });
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw new CheckpointError('bad safetensors header: not a JSON object', { file });
    }
    const tensors = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header)) {
      if (name === METADATA_KEY) {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      tensors.set(name, parseEntry(name, raw, file, dataStart));
    }
    const entries = [...tensors.values()];
    checkNoOverlap(entries, file);
    for (const entry of entries) {
      if (entry.offset + entry.byteLength > fileSize) {
        throw new CheckpointError(
          `truncated safetensors file: tensor data ends at byte ${entry.offset + entry.byteLength} but the file has ${fileSize} bytes`,
          { file, tensor: entry.name },
        );
      }
    }
    return { tensors, metadata };
  }

  entry(name: string): TensorEntry {
    const entry = this.tensors.get(name);
    if (!entry) throw new CheckpointError('tensor not in this file', { file: this.path, tensor: name });
    return entry;
  }

  /** The raw bytes of one tensor, or of bytes [start, start + length) inside it. */
  read(name: string, start = 0, length?: number): Uint8Array {
    const entry = this.entry(name);
    const byteLength = length ?? entry.byteLength - start;
    if (start < 0 || byteLength < 0 || start + byteLength > entry.byteLength) {
      throw new RangeError(`bytes [${start}, ${start + byteLength}) are outside tensor ${name} (${entry.byteLength} bytes)`);
    }
    if (this.fd === null) throw new CheckpointError('safetensors file is closed', { file: this.path, tensor: name });
    const bytes = readExactly(this.fd, byteLength, entry.offset + start);
    if (bytes.length !== byteLength) {
      throw new CheckpointError(`truncated safetensors file: tensor data ends early (file changed on disk?)`, { file: this.path, tensor: name });
    }
    return bytes;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

export interface TensorDeclaration {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

/** The header bytes (length prefix + JSON padded with spaces to 8 bytes) for tensors laid out in order. */
export function encodeHeader(tensors: readonly TensorDeclaration[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { [METADATA_KEY]: metadata };
  let cursor = 0;
  for (const tensor of tensors) {
    const byteLength = elementCount(tensor.shape) * DTYPE_BYTES[tensor.dtype];
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [cursor, cursor + byteLength] };
    cursor += byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const paddedLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(HEADER_LENGTH_BYTES + paddedLength).fill(0x20, HEADER_LENGTH_BYTES);
  Buffer.from(out.buffer).writeBigUInt64LE(BigInt(paddedLength), 0);
  out.set(json, HEADER_LENGTH_BYTES);
  return out;
}

/**
 * Writes a safetensors file tensor by tensor, in declaration order; each tensor's bytes may
 * arrive in several chunks. finish() checks every declared byte was written.
 */
export class SafetensorsWriter {
  private readonly sizes: number[];
  private current = 0;
  private writtenOfCurrent = 0;
  private readonly out: PieceWriter;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly tensors: readonly TensorDeclaration[],
  ) {
    this.sizes = tensors.map((t) => elementCount(t.shape) * DTYPE_BYTES[t.dtype]);
    this.out = new PieceWriter(fd);
  }

  static async create(filePath: string, tensors: readonly TensorDeclaration[]): Promise<SafetensorsWriter> {
    const writer = new SafetensorsWriter(filePath, fs.openSync(filePath, 'w'), tensors);
    writer.out.append(encodeHeader(tensors));
    return writer;
  }

  /** Appends bytes of the tensor `name`, which must be the one currently being written. */
  async write(name: string, chunk: Uint8Array): Promise<void> {
    while (this.current < this.tensors.length && this.writtenOfCurrent === this.sizes[this.current] && this.tensors[this.current].name !== name) {
      this.current++;
      this.writtenOfCurrent = 0;
    }
    const expected = this.tensors[this.current];
    if (!expected || expected.name !== name) throw new Error(`${this.path}: wrote ${name} but ${expected?.name ?? 'no tensor'} comes next`);
    if (this.writtenOfCurrent + chunk.length > this.sizes[this.current]) throw new Error(`${this.path}: too many bytes for ${name}`);
    this.out.append(chunk);
    this.writtenOfCurrent += chunk.length;
  }

  /** Closes the file without the completeness check (after a failed write). */
  async abandon(): Promise<void> {
    fs.closeSync(this.fd);
  }

  async finish(): Promise<void> {
    const last = this.tensors.length - 1;
    const complete = this.tensors.length === 0 || (this.current === last && this.writtenOfCurrent === this.sizes[last]);
    try {
      this.out.finish();
    } finally {
      fs.closeSync(this.fd);
    }
    if (!complete) throw new Error(`${this.path}: closed before every declared tensor was written`);
  }
}
