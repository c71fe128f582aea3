/**
 * JSON written piece by piece, so a document of any size (a long trace with attention capture)
 * never becomes one string: V8 strings stop at ~512 MB, and float32 values take ~20 characters
 * each. Tensors are written one token (first axis) at a time; the output is byte-identical to
 * JSON.stringify of the same document with the tensors nested.
 */
import { nest, runJsonWith, type RunJsonOf } from './json';
import type { RunResult } from './types';

type TypedArray = Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array;

/** A row-major tensor written as nested arrays [shape[0]][shape[1]]... */
export class NestedTensor {
  constructor(readonly data: TypedArray, readonly shape: number[]) {}
}

/** Where text goes; resolves once the sink accepted it (backpressure). */
export type TextSink = (text: string) => Promise<void> | void;

const FLUSH_CHARS = 64 * 1024;
const NUMBERS_PER_PIECE = 4096;

class BufferedText {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly sink: TextSink) {}
  async put(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_CHARS) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    await this.sink(text);
  }
}

function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

async function writeTensor(out: BufferedText, tensor: NestedTensor): Promise<void> {
  const [rows, ...inner] = tensor.shape;
  const stride = inner.reduce((a, b) => a * b, 1);
  await out.put('[');
  for (let row = 0; row < rows; row++) {
    const slice = tensor.data.subarray(row * stride, (row + 1) * stride);
    await out.put((row > 0 ? ',' : '') + JSON.stringify(inner.length > 0 ? nest(slice, inner) : slice[0]));
  }
  await out.put(']');
}

async function writeNumbers(out: BufferedText, values: TypedArray): Promise<void> {
  await out.put('[');
  for (let start = 0; start < values.length; start += NUMBERS_PER_PIECE) {
    const piece = JSON.stringify(Array.from(values.subarray(start, start + NUMBERS_PER_PIECE)));
    await out.put((start > 0 ? ',' : '') + piece.slice(1, -1));
  }
  await out.put(']');
}

async function writeValue(out: BufferedText, value: unknown): Promise<void> {
  if (value instanceof NestedTensor) return writeTensor(out, value);
  if (isTypedArray(value)) return writeNumbers(out, value);
  if (typeof value === 'bigint') return out.put(value.toString());
  if (Array.isArray(value)) {
    await out.put('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) await out.put(',');
      await writeValue(out, value[i] === undefined || typeof value[i] === 'function' ? null : value[i]);
    }
    return out.put(']');
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    await out.put('{');
    let first = true;
    for (const [key, inner] of Object.entries(value)) {
      if (inner === undefined || typeof inner === 'function') continue;
      await out.put(`${first ? '' : ','}${JSON.stringify(key)}:`);
      first = false;
      await writeValue(out, inner);
    }
    return out.put('}');
  }
  return out.put(JSON.stringify(value) ?? 'null');
}

/** Writes `value` as JSON to the sink in pieces of about 64K characters. */
export async function writeJson(sink: TextSink, value: unknown): Promise<void> {
  const out = new BufferedText(sink);
  await writeValue(out, value);
  await out.flush();
}

/** A sink over a Node stream that waits for 'drain' when the stream's buffer is full (and fails if it closes first). */
export function streamSink(stream: NodeJS.WritableStream): (chunk: string | Uint8Array) => Promise<void> {
  return (chunk) => new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      stream.removeListener('error', onError);
      stream.removeListener('close', onClose);
      stream.removeListener('drain', onDrain);
      if (error) reject(error);
      else resolve();
    };
    const onError = (error: Error) => settle(error);
    const onClose = () => settle(new Error('the output closed before the data was written (a reader went away)'));
    const onDrain = () => settle();
    stream.once('error', onError);
    stream.once('close', onClose);
    if (stream.write(chunk)) settle();
    else stream.once('drain', onDrain);
  });
}

/** The run --json document with lazy tensors, for writeJson. */
export function streamableRunJson(result: RunResult): RunJsonOf<NestedTensor> {
  return runJsonWith(result, (flat, shape) => new NestedTensor(flat, shape));
}

/** Streams a JSON document and a newline to `stream`, waiting on it when a reader is slow. */
export async function writeJsonLine(stream: NodeJS.WritableStream, document: unknown): Promise<void> {
  const write = streamSink(stream);
  await writeJson(write, document);
  await write('\n');
}
