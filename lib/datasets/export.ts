/**
 * Export: selected traces -> `data/<split>-0000i-of-0000n.{parquet,jsonl}` + `README.md` (the
 * dataset card), written to a folder or streamed as a zip. One trace is loaded at a time; Parquet
 * rows are buffered up to a row group of `rowGroupTokens` tokens (a longer trace is a row group of
 * its own), JSON Lines rows are written as they come, so memory follows the largest trace, not the
 * dataset.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import yazl from 'yazl';
import { AccessError } from '../auth/errors';
import { actorOf, audit } from '../auth/audit';
import { hasRole, type Identity, type Role } from '../auth/roles';
import type { Store } from '../store/index';
import type { ChunkSection } from '../trace/codec';
import { streamSink, writeJson } from '../trace/json-stream';
import { countRow, datasetCard, emptyStats, type DatasetStats } from './card';
import { datasetColumns, DEFAULT_INCLUDE, type Field, type IncludePart } from './columns';
import { DatasetParquetWriter, type ByteSink } from './parquet-writer';
import { rowFromTrace, type DatasetRow } from './rows';
import { hasWideExperts, readReviewData, selectTraceIds, type Selection } from './source';

export type DatasetFormat = 'parquet' | 'jsonl';

/** The least role that may export raw reasoning (roles.ts: researchers make raw exports). */
export const RAW_EXPORT_ROLE: Role = 'researcher';

export interface ExportOptions {
  format: DatasetFormat;
  include?: readonly IncludePart[];
  /** Traces per data file (default 1000). */
  shardSize?: number;
  split?: string;
  license?: string;
  /** Tokens per Parquet row group (default 32768). */
  rowGroupTokens?: number;
  /** Called after each trace: traces done, traces in all, tokens done. */
  onProgress?: (done: number, total: number, tokens: number) => void;
  /** Names the export in the audit log (`cli export`, `api export`). */
  via: string;
}

/** A place data files go: a folder or a zip stream. */
export interface DatasetOutput {
  open(path: string, compressible: boolean): { write: ByteSink; close: () => Promise<void> };
  close(): Promise<void>;
}

export function folderOutput(root: string): DatasetOutput {
  return {
    open(path) {
      const file = join(root, path);
      const ready = mkdir(dirname(file), { recursive: true });
      let stream: Writable | null = null;
      const opened = async () => (stream ??= (await ready, createWriteStream(file)));
      return {
        write: async (bytes) => { await streamSink(await opened())(bytes); },
        close: async () => { const done = await opened(); done.end(); await finished(done); },
      };
    },
    close: async () => undefined,
  };
}

/** A zip written to `target` as entries are produced (Parquet stored, JSON Lines and the card deflated). */
export function zipOutput(target: Writable): DatasetOutput {
  const zip = new yazl.ZipFile();
  zip.outputStream.pipe(target);
  return {
    open(path, compressible) {
      const entry = new PassThrough();
      zip.addReadStream(entry, path, { compress: compressible, mtime: new Date(0) });
      const write = streamSink(entry);
      return { write, close: async () => { entry.end(); await finished(entry); } };
    },
    close: async () => { zip.end(); await finished(target); },
  };
}

export interface ExportSummary { stats: DatasetStats; columns: Field[] }

function sectionsFor(include: readonly IncludePart[]): ChunkSection[] {
  const sections: ChunkSection[] = ['tokens'];
  if (include.includes('routing')) sections.push('routing');
  if (include.includes('logits')) sections.push('logits');
  if (include.includes('attention')) sections.push('attention');
  return sections;
}

const shardName = (split: string, index: number, count: number, format: DatasetFormat) =>
  `data/${split}-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.${format}`;

interface ShardWriter { add(row: DatasetRow): Promise<void>; close(): Promise<void>; bytes(): number }

function parquetShard(columns: Field[], write: ByteSink, rowGroupTokens: number): ShardWriter {
  const writer = new DatasetParquetWriter(columns, write);
  let pending: DatasetRow[] = [];
  let pendingTokens = 0;
  const flush = async () => { await writer.writeRows(pending); pending = []; pendingTokens = 0; };
  return {
    add: async (row) => {
      if (pendingTokens > 0 && pendingTokens + row.tokens.length > rowGroupTokens) await flush();
      pending.push(row);
      pendingTokens += row.tokens.length;
    },
    close: async () => { await flush(); await writer.close(); },
    bytes: () => writer.bytesWritten,
  };
}

function jsonlShard(write: ByteSink): ShardWriter {
  let written = 0;
  const text = async (piece: string) => { const bytes = Buffer.from(piece); written += bytes.length; await write(bytes); };
  return {
    add: async (row) => { await writeJson(text, row); await text('\n'); },
    close: async () => undefined,
    bytes: () => written,
  };
}

/**
 * Writes the selected traces as a dataset. Raw reasoning is exported only when `include` has
 * `raw` and the identity may make raw exports (else AccessError); such an export is audit-logged
 * as raw.read with the trace ids.
 */
export async function exportDataset(store: Store, identity: Identity, selection: Selection, options: ExportOptions, output: DatasetOutput): Promise<ExportSummary> {
  const include = options.include ?? DEFAULT_INCLUDE;
  const raw = include.includes('raw');
  if (raw && !hasRole(identity, RAW_EXPORT_ROLE)) throw new AccessError(`role "${identity.role}" cannot export raw reasoning (needs ${RAW_EXPORT_ROLE})`, 403);
  const split = options.split ?? 'train';
  const shardSize = options.shardSize ?? 1000;
  const ids = await selectTraceIds(store, selection);
  const wideExperts = include.includes('routing') && await hasWideExperts(store, ids);
  const columns = datasetColumns(include, wideExperts);
  const stats = emptyStats();
  const shardCount = Math.max(1, Math.ceil(ids.length / shardSize));
  if (raw) await audit(store.backend, { actor: actorOf(identity), action: 'raw.read', target: `export of ${ids.length} traces`, detail: { via: options.via, traceIds: ids } });
  const sections = sectionsFor(include);
  for (let shard = 0; shard < shardCount; shard++) {
    const name = shardName(split, shard, shardCount, options.format);
    const file = output.open(name, options.format === 'jsonl');
    const writer = options.format === 'parquet' ? parquetShard(columns, file.write, options.rowGroupTokens ?? 32768) : jsonlShard(file.write);
    for (const id of ids.slice(shard * shardSize, (shard + 1) * shardSize)) {
      const trace = await store.traces.get(id, { includeRawCot: raw, sections });
      if (!trace) continue; // deleted for good while the export ran
      const row = rowFromTrace(trace, await readReviewData(store, id, trace.metadata.createdAt, trace.metadata.completedAt), include);
      await writer.add(row);
      countRow(stats, row);
      options.onProgress?.(stats.rows, ids.length, stats.tokens);
    }
    await writer.close();
    await file.close();
    stats.dataBytes += writer.bytes();
    stats.files.push(name);
  }
  const card = output.open('README.md', true);
  await card.write(Buffer.from(datasetCard(stats, { format: options.format, split, include, license: options.license ?? 'other', rawIncluded: raw, columns })));
  await card.close();
  await output.close();
  return { stats, columns };
}
