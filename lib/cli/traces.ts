/**
 * `cotscope traces list|get`: read the trace store. `get --json` prints the same document as
 * `run --json` plus id, status and metadata. Analysis text (raw chain of thought) is withheld
 * unless --raw-cot is given.
 */
import { parseArgs } from 'node:util';
import { openStore, TRACE_STATUSES, type SortKey, type StoredTrace, type TraceFilters, type TraceListItem, type TraceStatus } from '../store/index';
import type { ChunkSection } from '../trace/codec';
import { toRunJson } from '../trace/json';
import { formatHuman } from './run';
import { requireCliRole } from './access';
import { actorOf, audit } from '../auth/audit';
import { RAW_REASONING_ROLE } from '../auth/roles';
import { VERDICT_VALUES } from '../review/vocabulary';
import { CURATION_HELP, CURATION_VERBS, runCurationCommand, type CurationVerb } from './curate';

const HELP = `usage: cotscope traces list [filters] [--json]
       cotscope traces get ID [--json] [--raw-cot] [--sections routing,logits,attention]
${CURATION_HELP}

list filters:
  --model NAME|ID  --collection NAME  --effort low|medium|high  --status running|complete|failed|cancelled
  --tag NAME  --prompt-id ID  --since DATE  --until DATE  --search TEXT (full text, websearch syntax)
  --label KEY  --verdict safe|unsafe|unsure  --annotator NAME  --annotated | --unannotated   (review data)
list paging:
  --sort createdAt|tokenCount  --asc  --limit N (default 50)  --cursor C (printed after each page)
  --raw-cot  also search analysis (raw chain of thought) text; get: include it

The store is PostgreSQL when DATABASE_URL is set, else PGlite under COTSCOPE_DATA_DIR (./data).`;

const SECTIONS: readonly ChunkSection[] = ['tokens', 'routing', 'logits', 'attention'];

function parseDate(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`${flag} must be a date such as 2025-09-01 or 2025-09-01T12:00Z (got "${value}")`);
  return date;
}

function parseStatus(value: string | undefined): TraceStatus | undefined {
  if (value === undefined) return undefined;
  if (!TRACE_STATUSES.includes(value as TraceStatus)) throw new Error(`--status must be one of ${TRACE_STATUSES.join(', ')} (got "${value}")`);
  return value as TraceStatus;
}

function parseVerdict(value: string | undefined): TraceFilters['verdict'] {
  if (value === undefined) return undefined;
  if (!(VERDICT_VALUES as readonly string[]).includes(value)) throw new Error(`--verdict must be one of ${VERDICT_VALUES.join(', ')} (got "${value}")`);
  return value as TraceFilters['verdict'];
}

function parseSections(value: string | undefined): ChunkSection[] | undefined {
  if (value === undefined) return undefined;
  const sections = value.split(',').map((piece) => piece.trim()).filter(Boolean);
  const unknown = sections.filter((section) => !SECTIONS.includes(section as ChunkSection));
  if (unknown.length > 0) throw new Error(`--sections takes ${SECTIONS.join(', ')} (got "${value}")`);
  return sections as ChunkSection[];
}

function formatRow(item: TraceListItem): string {
  const labels = [...item.collections.map((name) => `[${name}]`), ...item.tags.map((name) => `#${name}`), ...item.review.labels.map((name) => `!${name}`)].join(' ');
  return [item.id, item.createdAt.slice(0, 19).replace('T', ' '), item.status.padEnd(9), item.model, item.promptId ?? '-',
    item.effort ?? '-', `s${item.sampleIndex}`, `${item.tokenCount} tok`, labels].join('  ').trimEnd();
}

/** The `traces get --json` document. */
export function storedTraceJson(trace: StoredTrace) {
  const run = toRunJson(trace);
  // Router logits are optional in the store (--no-router-logits): an absent section is [], not nulls.
  if (run.routing && trace.routing?.logits.length === 0) run.routing.logits = [];
  return { id: trace.id, status: trace.status, metadata: trace.metadata, ...run };
}

export async function runTracesCommand(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  if ((CURATION_VERBS as readonly string[]).includes(subcommand)) return runCurationCommand(subcommand as CurationVerb, rest);
  if (subcommand !== 'list' && subcommand !== 'get') {
    console.error(subcommand && subcommand !== '--help' ? `unknown traces command "${subcommand}"\n\n${HELP}` : HELP);
    return subcommand && subcommand !== '--help' ? 2 : 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: subcommand === 'get',
    options: {
      json: { type: 'boolean', default: false },
      'raw-cot': { type: 'boolean', default: false },
      model: { type: 'string' },
      collection: { type: 'string' },
      effort: { type: 'string' },
      status: { type: 'string' },
      tag: { type: 'string' },
      'prompt-id': { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      search: { type: 'string' },
      label: { type: 'string' },
      verdict: { type: 'string' },
      annotator: { type: 'string' },
      annotated: { type: 'boolean' },
      unannotated: { type: 'boolean' },
      sort: { type: 'string', default: 'createdAt' },
      asc: { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      cursor: { type: 'string' },
      sections: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  const store = await openStore();
  try {
    // Raw chain of thought needs the annotator role; a read of it by a script (COTSCOPE_TOKEN) or operator is audited.
    const identity = await requireCliRole(store, values['raw-cot'] ? RAW_REASONING_ROLE : 'viewer');
    if (subcommand === 'get') {
      if (positionals.length !== 1) { console.error(`traces get takes one trace id\n\n${HELP}`); return 2; }
      const trace = await store.traces.get(positionals[0], { includeRawCot: values['raw-cot'], sections: parseSections(values.sections) });
      if (!trace) { console.error(`no trace with id ${positionals[0]} in ${store.backend.location}`); return 1; }
      if (values['raw-cot']) await audit(store.backend, { actor: actorOf(identity), action: 'raw.read', target: trace.id, detail: { via: 'cli traces get' } });
      if (values.json) process.stdout.write(`${JSON.stringify(storedTraceJson(trace))}\n`);
      else console.log(`trace ${trace.id} · ${trace.status} · ${trace.metadata.model.name} · prompt ${trace.metadata.promptId ?? '-'} · effort ${trace.metadata.effort ?? '-'}\n\n${formatHuman(trace)}`);
      return 0;
    }
    if (values.sort !== 'createdAt' && values.sort !== 'tokenCount') throw new Error(`--sort must be createdAt or tokenCount (got "${values.sort}")`);
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a positive integer (got "${values.limit}")`);
    const filters: TraceFilters = {
      model: values.model, collection: values.collection, effort: values.effort, status: parseStatus(values.status), tag: values.tag,
      promptId: values['prompt-id'], createdFrom: parseDate(values.since, '--since'), createdTo: parseDate(values.until, '--until'), text: values.search,
      label: values.label, verdict: parseVerdict(values.verdict), annotator: values.annotator,
      hasAnnotations: values.annotated ? true : values.unannotated ? false : undefined,
    };
    const page = await store.traces.list(filters, {
      sort: values.sort as SortKey, direction: values.asc ? 'asc' : 'desc', limit, cursor: values.cursor ?? null, includeRawCot: values['raw-cot'],
    });
    if (values.json) process.stdout.write(`${JSON.stringify(page)}\n`);
    else {
      for (const item of page.items) console.log(formatRow(item));
      if (page.items.length === 0) console.log('no traces match');
      if (page.nextCursor) console.log(`more: --cursor ${page.nextCursor}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
