/**
 * `GET /api/export`: the dataset export for scripts (bearer token) and the trace table's download
 * button, streamed: a zip of the dataset folder (`archive=zip`, the default) or the one data file
 * (`archive=none`).
 */
import { PassThrough, Readable, type Writable } from 'node:stream';
import { z } from 'zod';
import { AccessError } from '../auth/errors';
import { hasRole, type Identity } from '../auth/roles';
import type { Store } from '../store/index';
import { storableText } from '../trace/text';
import { DEFAULT_INCLUDE, INCLUDE_PARTS, type IncludePart } from './columns';
import { exportDataset, RAW_EXPORT_ROLE, zipOutput, type DatasetOutput } from './export';

const text = storableText(z.string().max(200)).trim().optional().transform((value) => value || undefined);
const isoDate = z.string().optional().refine((value) => !value || !Number.isNaN(Date.parse(value)), 'must be an ISO date (YYYY-MM-DD)')
  .transform((value) => (value ? new Date(value) : undefined));

export const exportQuerySchema = z.object({
  format: z.enum(['parquet', 'jsonl']).default('parquet'),
  archive: z.enum(['zip', 'none']).default('zip'),
  include: z.string().max(200).optional().transform((value, context) => {
    if (value === undefined) return [...DEFAULT_INCLUDE];
    const parts = value.split(',').map((part) => part.trim()).filter(Boolean);
    const unknown = parts.filter((part) => !(INCLUDE_PARTS as readonly string[]).includes(part));
    if (unknown.length > 0) context.addIssue({ code: 'custom', message: `takes ${INCLUDE_PARTS.join(', ')} (got ${unknown.join(', ')})` });
    return parts as IncludePart[];
  }),
  ids: z.string().max(100_000).optional().transform((value) => value?.split(',').map((id) => id.trim()).filter(Boolean)),
  shardSize: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  search: text, model: text, collection: text, effort: text, tag: text, promptId: text,
  status: z.enum(['running', 'complete', 'failed', 'cancelled']).optional(),
  from: isoDate, to: isoDate,
}).strict();
export type ExportQuery = z.infer<typeof exportQuerySchema>;

/** Only the data file goes to `target` (archive=none: one shard, no card). */
function dataFileOutput(target: Writable): DatasetOutput {
  const sink = new PassThrough();
  sink.pipe(target);
  return {
    open(path) {
      const keep = path.startsWith('data/');
      return {
        write: async (bytes) => { if (keep && !sink.write(bytes)) await new Promise((resolve) => sink.once('drain', resolve)); },
        close: async () => undefined,
      };
    },
    close: async () => { sink.end(); },
  };
}

const CONTENT_TYPES = { zip: 'application/zip', parquet: 'application/vnd.apache.parquet', jsonl: 'application/x-ndjson' } as const;

/** Starts the export and answers with its stream; refusals (raw without the role) come before any byte. */
export function exportResponse(store: Store, identity: Identity, query: ExportQuery): Response {
  if (query.include.includes('raw') && !hasRole(identity, RAW_EXPORT_ROLE)) {
    throw new AccessError(`role "${identity.role}" cannot export raw reasoning (needs ${RAW_EXPORT_ROLE})`, 403);
  }
  const body = new PassThrough();
  const zip = query.archive === 'zip';
  const output = zip ? zipOutput(body) : dataFileOutput(body);
  const selection = query.ids ? { ids: query.ids } : {
    filters: {
      text: query.search, model: query.model, collection: query.collection, effort: query.effort, tag: query.tag, promptId: query.promptId,
      status: query.status, createdFrom: query.from, createdTo: query.to,
    },
  };
  exportDataset(store, identity, selection, {
    format: query.format, include: query.include, shardSize: zip ? query.shardSize : Number.MAX_SAFE_INTEGER, via: 'api export',
  }, output).catch((error: unknown) => {
    console.error('[cotscope] export failed mid-stream:', error);
    body.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const name = `cotscope-traces.${zip ? 'zip' : query.format}`;
  return new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, {
    headers: { 'content-type': CONTENT_TYPES[zip ? 'zip' : query.format], 'content-disposition': `attachment; filename="${name}"`, 'cache-control': 'no-store' },
  });
}
