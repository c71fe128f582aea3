/**
 * Streaming Parquet writer for dataset rows, over hyparquet-writer's encoders. Each call writes one
 * row group and hands its bytes to the sink before returning, so memory holds one row group.
 *
 * hyparquet-writer's `ParquetWriter.write` walks every value through its generic Dremel encoder
 * (JS arrays of values and levels per value, ~4k tokens/s and ~750 MB for 16k tokens of the
 * gpt-oss-20b routing shape, measured). Tensor and numeric list columns here have a known shape,
 * so their repetition and definition levels are computed directly into typed arrays and the
 * values stay the capture's typed arrays; the other columns (strings, structs, lists of structs)
 * go through hyparquet-writer's own Dremel encoder. Column chunks, pages, indexes and the footer
 * are hyparquet-writer's.
 */
import type { SchemaElement, SchemaTree } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import { encodeNestedValues } from 'hyparquet-writer/src/dremel.js';
import { schemaPathResolver } from 'hyparquet-writer/src/schema.js';
import type { ColumnEncoder, PageData } from 'hyparquet-writer/src/types.js';
import { parquetSchema, type Field, type FieldType } from './columns';
import type { DatasetRow, Tensor } from './rows';

/** Where bytes go; resolves once the sink accepted them (backpressure). */
export type ByteSink = (bytes: Uint8Array) => Promise<void>;

const PAGE_BYTES = 1024 * 1024;

/** Numeric list columns that are written straight from typed arrays, with their nesting depth. */
function listRank(type: FieldType): number {
  let rank = 0;
  let current = type;
  while (typeof current === 'object' && 'list' in current) { rank++; current = current.list; }
  return typeof current === 'string' && current !== 'string' && current !== 'bool' && current !== 'timestamp' ? rank : 0;
}

/** A row's value of a numeric list column as a tensor (1-D lists become shape [n]). */
function tensorOf(value: unknown): Tensor | null {
  if (value === null || value === undefined) return null;
  if (ArrayBuffer.isView(value)) {
    const data = value as Tensor['data'];
    return { data, shape: [data.length] };
  }
  return value as Tensor;
}

/**
 * Levels and values of a fixed-shape nested list column for a row group. A value at flat index i
 * of a row repeats at the outermost axis whose stride divides i; a null row is one entry at
 * definition 0, an empty one at definition 1 (the optional column is defined, its list empty).
 */
export function tensorPageData(values: (Tensor | null)[], rank: number, float16: boolean): PageData {
  let count = 0;
  let placeholders = 0;
  for (const tensor of values) {
    const size = tensor ? tensor.data.length : 0;
    count += size > 0 ? size : 1;
    if (size === 0) placeholders++;
  }
  const repetitionLevels = new Uint8Array(count);
  const definitionLevels = new Uint8Array(count).fill(rank + 1);
  const first = values.find((tensor) => tensor && tensor.data.length > 0)?.data;
  const sameType = values.every((tensor) => tensor?.data.constructor === first?.constructor);
  // hyparquet-writer keeps nulls as placeholders beside their levels: only a plain array holds them.
  const typed = placeholders === 0 && first !== undefined && sameType && !float16;
  const flat: number[] | Tensor['data'] = typed ? new (first.constructor as new (length: number) => Tensor['data'])(count) : new Array<number>(count);
  let at = 0;
  for (const tensor of values) {
    if (!tensor || tensor.data.length === 0) {
      definitionLevels[at] = tensor ? 1 : 0;
      (flat as unknown[])[at++] = undefined;
      continue;
    }
    if (typed) (flat as Tensor['data']).set(tensor.data as never, at);
    else for (let i = 0; i < tensor.data.length; i++) (flat as number[])[at + i] = tensor.data[i];
    // Every token (first-axis slice) repeats the same level pattern; the row's first value starts the row (0).
    const pattern = tokenLevelPattern(tensor.shape);
    for (let offset = 0; offset < tensor.data.length; offset += pattern.length) repetitionLevels.set(pattern, at + offset);
    repetitionLevels[at] = 0;
    at += tensor.data.length;
  }
  return { values: flat as PageData['values'], definitionLevels: definitionLevels as unknown as number[], repetitionLevels: repetitionLevels as unknown as number[], maxDefinitionLevel: rank + 1 };
}

/** Repetition levels of one token's values: 1 at its start, then the outermost inner axis that changes. */
function tokenLevelPattern(shape: number[]): Uint8Array {
  const inner = shape.slice(1);
  const strides = inner.map((_, axis) => inner.slice(axis + 1).reduce((a, b) => a * b, 1));
  const pattern = new Uint8Array(inner.reduce((a, b) => a * b, 1));
  for (let i = 0; i < pattern.length; i++) {
    let axis = 0;
    while (axis < strides.length && i % strides[axis] !== 0) axis++;
    pattern[i] = i === 0 ? 1 : axis + 2;
  }
  return pattern;
}

/** Plain JS values for hyparquet-writer's Dremel encoder (typed arrays become arrays). */
function plainValue(value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map(plainValue);
  if (value instanceof Date || value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plainValue(inner)]));
}

function leafPaths(path: SchemaTree[]): SchemaTree[][] {
  const node = path[path.length - 1];
  return node.children.length === 0 ? [path] : node.children.flatMap((child) => leafPaths([...path, child]));
}

export class DatasetParquetWriter extends ParquetWriter {
  private readonly resolve: (path: string[]) => SchemaTree[];

  constructor(private readonly columns: Field[], private readonly sink: ByteSink, metadata: Record<string, string> = {}) {
    super({
      writer: new ByteWriter(1 << 20), schema: parquetSchema(columns), createdBy: 'cotscope', statistics: true,
      kvMetadata: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    this.resolve = schemaPathResolver(this.schema as SchemaElement[]);
  }

  /** Writes `rows` as one row group and hands its bytes to the sink. */
  async writeRows(rows: DatasetRow[]): Promise<void> {
    if (rows.length === 0) return;
    const start = this.writer.offset;
    const chunks: { meta_data?: { total_uncompressed_size: bigint } }[] = [];
    for (const column of this.columns) {
      const values = rows.map((row) => (row as unknown as Record<string, unknown>)[column.name] ?? null);
      const rank = listRank(column.type);
      for (const path of leafPaths(this.resolve([column.name]))) {
        const schemaPath = path.map((node) => node.element);
        const element = schemaPath[schemaPath.length - 1];
        const float16 = element.logical_type?.type === 'FLOAT16';
        const pageData = rank > 0 ? tensorPageData(values.map(tensorOf), rank, float16) : encodeNestedValues(path, values.map(plainValue) as never);
        const encoder: ColumnEncoder = {
          columnName: schemaPath.slice(1).map((node) => node.name).join('.'), element, schemaPath, codec: this.codec, compressors: this.compressors,
          // Min/max of tensor values help no query and cost a pass over every value.
          // Tensor chunks are one page each: splitting them sizes every value (a third of the write time) for no reader's gain.
          stats: rank === 0, pageSize: rank === 0 ? PAGE_BYTES : 0, columnIndex: false, offsetIndex: true,
        } as ColumnEncoder;
        const written = writeColumn({ writer: this.writer, column: encoder, pageData });
        chunks.push(written.chunk);
        this.pendingIndexes.push(written);
      }
    }
    let totalBytes = 0n;
    for (const chunk of chunks) totalBytes += chunk.meta_data?.total_uncompressed_size ?? 0n;
    this.num_rows += BigInt(rows.length);
    this.row_groups.push({ columns: chunks as never, total_byte_size: totalBytes, num_rows: BigInt(rows.length), total_compressed_size: BigInt(this.writer.offset - start) });
    await this.drain();
  }

  /** Writes the page indexes and footer. */
  async close(): Promise<void> {
    this.finish();
    await this.drain();
  }

  /** Bytes written so far (the file's size once closed). */
  get bytesWritten(): number {
    return this.writer.offset;
  }

  private async drain(): Promise<void> {
    const writer = this.writer as ByteWriter;
    if (writer.index === 0) return;
    const bytes = new Uint8Array(writer.buffer.slice(0, writer.index));
    writer.index = 0;
    await this.sink(bytes);
  }
}
