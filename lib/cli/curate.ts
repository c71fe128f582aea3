/**
 * `cotscope traces delete|restore|purge|deleted|label`: curation after capture (lib/review/curation.ts),
 * each change audited. Needs the researcher role (the shell's operator has it; a script's
 * COTSCOPE_TOKEN must belong to a researcher or admin).
 */
import { parseArgs } from 'node:util';
import { openStore } from '../store/index';
import { actorOf } from '../auth/audit';
import { listDeletedTraces, purgeDeletedTraces, restoreTrace, retentionDays, setTraceLabels, softDeleteTrace } from '../review/curation';
import { requireCliRole } from './access';

export const CURATION_VERBS = ['delete', 'restore', 'purge', 'deleted', 'label'] as const;
export type CurationVerb = (typeof CURATION_VERBS)[number];

export const CURATION_HELP = `       cotscope traces delete ID...          soft delete: hidden everywhere, purged after COTSCOPE_RETENTION_DAYS (default 30)
       cotscope traces restore ID...         bring soft-deleted traces back
       cotscope traces deleted [--json]      list soft-deleted traces
       cotscope traces purge [--days N]      delete for good what was soft-deleted more than N days ago (default the retention period)
       cotscope traces label ID [--tags a,b] [--collections x,y]   replace a trace's tags and/or collections (a move)`;

const names = (value: string | undefined) => (value === undefined ? undefined : value.split(',').map((name) => name.trim()).filter(Boolean));

export async function runCurationCommand(verb: CurationVerb, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, days: { type: 'string' }, tags: { type: 'string' }, collections: { type: 'string' } },
  });
  const needsIds = verb === 'delete' || verb === 'restore' || verb === 'label';
  if (needsIds && positionals.length === 0) { console.error(`traces ${verb} takes trace ids`); return 2; }
  if (verb === 'label' && positionals.length !== 1) { console.error('traces label takes one trace id'); return 2; }
  const days = values.days === undefined ? retentionDays() : Number(values.days);
  if (!(Number.isFinite(days) && days >= 0)) { console.error(`--days must be a number of days, 0 or more (got "${values.days}")`); return 2; }
  const store = await openStore();
  try {
    const identity = await requireCliRole(store, 'researcher');
    const { backend } = store;
    if (verb === 'delete') for (const id of positionals) console.log(`deleted ${id}; purged after ${(await softDeleteTrace(backend, identity, id)).purgeAfter}`);
    if (verb === 'restore') for (const id of positionals) { await restoreTrace(backend, identity, id); console.log(`restored ${id}`); }
    if (verb === 'purge') console.log(`purged ${(await purgeDeletedTraces(backend, actorOf(identity), days)).length} trace(s) deleted more than ${days} days ago`);
    if (verb === 'label') {
      const labels = await setTraceLabels(backend, identity, positionals[0], { tags: names(values.tags), collections: names(values.collections) });
      console.log(values.json ? JSON.stringify(labels) : `tags: ${labels.tags.join(', ') || '-'}\ncollections: ${labels.collections.join(', ') || '-'}`);
    }
    if (verb === 'deleted') {
      const rows = await listDeletedTraces(backend);
      if (values.json) console.log(JSON.stringify(rows));
      else for (const row of rows) console.log(`${row.id}  deleted ${row.deletedAt} by ${row.deletedBy ?? '-'}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
