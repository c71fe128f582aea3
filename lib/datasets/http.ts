/**
 * `GET /api/export`: the dataset export for scripts (bearer token) and the trace table's download
 * button, streamed: a zip of the dataset folder (`archive=zip`, the default) or the one data file
 * (`archive=none`).
 */
import { PassThrough, Readable, type Writable } from 'node:stream';
import { AccessError } from '../auth/errors';
import { hasRole, type Identity } from '../auth/roles';
import type { Store } from '../store/index';
import { exportDataset, RAW_EXPORT_ROLE, zipOutput, type DatasetOutput } from './export';
import type { ExportQuery } from './query';
import { selectTraceIds } from './source';



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

/** Starts the export and answers with its stream; refusals (raw without the role, a bad filter) come before any byte. */
export async function exportResponse(store: Store, identity: Identity, query: ExportQuery): Promise<Response> {
  if (query.include.includes('raw') && !hasRole(identity, RAW_EXPORT_ROLE)) {
    throw new AccessError(`role "${identity.role}" cannot export raw reasoning (needs ${RAW_EXPORT_ROLE})`, 403);
  }
  const { ids, format, archive, include, shardSize, search, from, to, ...filters } = query;
  const selected = await selectTraceIds(store, ids ? { ids } : { filters: { ...filters, text: search, createdFrom: from ? new Date(from) : undefined, createdTo: to ? new Date(to) : undefined } });
  const zip = archive === 'zip';
  const body = new PassThrough();
  const output = zip ? zipOutput(body) : dataFileOutput(body);
  exportDataset(store, identity, { ids: selected }, {
    format, include, shardSize: zip ? shardSize : Number.MAX_SAFE_INTEGER, via: 'api export',
  }, output).catch((error: unknown) => {
    console.error('[cotscope] export failed mid-stream:', error);
    body.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const name = `cotscope-traces.${zip ? 'zip' : format}`;
  return new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, {
    headers: { 'content-type': CONTENT_TYPES[zip ? 'zip' : format], 'content-disposition': `attachment; filename="${name}"`, 'cache-control': 'no-store' },
  });
}
