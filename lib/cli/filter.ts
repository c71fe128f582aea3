/**
 * `cotscope filter`: runs the reasoning filter over stored traces and stores its output beside
 * earlier versions; re-running the same version is a no-op. Needs the researcher role; audited.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { openStore, type Store } from '../store/index';
import { actorOf, audit } from '../auth/audit';
import { activeRules, readRulesFile, RULES_ENV } from '../review/rules';
import { policyFilter } from '../review/filter';
import { filterStoredTrace, type FilterRunResult } from '../review/store';
import { summarizer } from '../review/summary';
import { loadRuntime } from '../runtime/runtime';
import { requireCliRole } from './access';
import { Progress } from './capture';

const HELP = `usage: cotscope filter [--collection NAME | --ids ID,ID,...] [--rules FILE] [--summary --model DIR] [--json]

Filters the analysis channel of stored traces (all complete and cancelled traces by default) with
the policy in --rules (default: ${RULES_ENV}, else lib/review/default-rules.json) and stores the
output under the filter's name and version. The same version is never stored twice; edited rules
are a new version stored beside the old. --summary also asks the model in --model for an end-user
summary of the filtered text (gibberish with a generated tiny model).`;

const PAGE = 200;

async function traceIds(store: Store, collection: string | undefined): Promise<string[]> {
  const ids: string[] = [];
  for (const status of ['complete', 'cancelled'] as const) {
    let cursor: string | null = null;
    do {
      const page = await store.traces.list({ collection, status }, { limit: PAGE, cursor, sort: 'createdAt', direction: 'asc' });
      ids.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor);
  }
  return ids;
}

export async function runFilterCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      collection: { type: 'string' }, ids: { type: 'string' }, rules: { type: 'string' }, summary: { type: 'boolean', default: false },
      model: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  if (values.collection && values.ids) throw new Error('give --collection or --ids, not both');
  if (values.summary && !values.model) throw new Error('--summary needs --model DIR (the runtime writes the summary)');
  const rules = values.rules ? readRulesFile(values.rules) : activeRules();
  const filter = policyFilter(rules).identity;
  const store = await openStore();
  const runtime = values.summary ? await loadRuntime(path.resolve(values.model!)) : null;
  try {
    const identity = await requireCliRole(store, 'researcher');
    const ids = values.ids ? values.ids.split(',').map((id) => id.trim()).filter(Boolean) : await traceIds(store, values.collection);
    const summarize = runtime ? summarizer(runtime, path.resolve(values.model!)) : undefined;
    const counts: Record<FilterRunResult, number> = { filtered: 0, summarized: 0, unchanged: 0, missing: 0 };
    const progress = new Progress(ids.length, process.stderr);
    for (const [index, id] of ids.entries()) {
      const result = await filterStoredTrace(store, id, rules, summarize);
      counts[result] += 1;
      progress.render(index + 1, `${id}: ${result}`);
    }
    if (ids.length > 0 && process.stderr.isTTY) process.stderr.write('\n');
    await audit(store.backend, { actor: actorOf(identity), action: 'filter.run', target: values.collection ?? (values.ids ? 'ids' : 'all'), detail: { filter, ...counts, summary: values.summary } });
    const report = { filter, traces: ids.length, ...counts };
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else console.log(`${filter.name} ${filter.version}: ${counts.filtered} filtered, ${counts.summarized} summarized, ${counts.unchanged} already stored, ${counts.missing} missing (of ${ids.length})`);
    return counts.missing > 0 ? 1 : 0;
  } finally {
    await runtime?.close();
    await store.close();
  }
}
