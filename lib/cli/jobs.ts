/**
 * `cotscope jobs [status|retry|cancel]`: the capture queue's progress per collection (done,
 * running, failed, queued, tokens/s, ETA), the workers alive with their model and device, recent
 * failures with their errors; retry failed (or cancelled) jobs, cancel queued and running ones.
 */
import { parseArgs } from 'node:util';
import { CaptureQueue, type JobSelector } from '../jobs/queue';
import type { JobsOverview } from '../jobs/types';
import { openStore } from '../store/index';
import { formatDuration } from './capture';

const HELP = `usage: cotscope jobs [status] [--json]
       cotscope jobs retry  (--collection NAME | --job ID[,ID...] | --all)
       cotscope jobs cancel (--collection NAME | --job ID[,ID...] | --all)

Needs DATABASE_URL (PostgreSQL): the queue lives in the trace store's database.`;

export function formatOverview(overview: JobsOverview): string {
  const lines = ['collection               done  running  failed  queued  cancelled      tok/s  ETA'];
  for (const row of overview.collections) {
    lines.push([
      (row.collection ?? '(none)').padEnd(22), String(row.done).padStart(6), String(row.running).padStart(8), String(row.failed).padStart(7),
      String(row.queued).padStart(7), String(row.cancelled).padStart(10),
      (row.tokensPerSecond === null ? '-' : row.tokensPerSecond.toFixed(1)).padStart(10), row.queued + row.running === 0 ? 'done' : formatDuration(row.etaSeconds ?? NaN),
    ].join(' '));
  }
  if (overview.collections.length === 0) lines.push('(no jobs)');
  lines.push('', `workers alive: ${overview.workers.length}`);
  for (const worker of overview.workers) {
    lines.push(`  ${worker.id}  ${worker.host} pid ${worker.pid}  model ${worker.model} on ${worker.device} x${worker.concurrency}  done ${worker.jobsDone}, failed ${worker.jobsFailed}  heartbeat ${worker.heartbeatAt}`);
  }
  if (overview.failures.length > 0) {
    lines.push('', 'failures:');
    for (const failure of overview.failures) {
      lines.push(`  ${failure.jobId}  ${failure.state} after ${failure.attempts} attempt(s)  ${failure.collection ?? '(none)'} ${failure.promptId ?? 'live'} ${failure.effort ?? '-'} s${failure.sampleIndex}: ${failure.error}`);
    }
  }
  return lines.join('\n');
}

export async function runJobsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      collection: { type: 'string' },
      job: { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  const action = positionals[0] ?? 'status';
  if (!['status', 'retry', 'cancel'].includes(action) || positionals.length > 1) { console.error(HELP); return 2; }
  if (!process.env.DATABASE_URL) throw new Error('the job queue needs DATABASE_URL (PostgreSQL)');
  let selector: JobSelector | null = null;
  if (action !== 'status') {
    const given = [values.collection !== undefined, values.job !== undefined, values.all].filter(Boolean).length;
    if (given !== 1) { console.error(`jobs ${action}: give exactly one of --collection, --job or --all\n\n${HELP}`); return 2; }
    selector = values.all ? {} : values.job ? { jobIds: values.job.split(',').map((id) => id.trim()).filter(Boolean) } : { collection: values.collection };
  }
  const store = await openStore();
  try {
    const queue = await CaptureQueue.open(store, { maintenance: false });
    try {
      if (selector && action === 'retry') console.error(`queued again: ${await queue.retry(selector)} job(s)`);
      else if (selector) console.error(`cancelled: ${await queue.cancel(selector)} job(s)`);
      else {
        const overview = await queue.overview();
        console.log(values.json ? JSON.stringify(overview, null, 2) : formatOverview(overview));
      }
      return 0;
    } finally {
      await queue.close();
    }
  } finally {
    await store.close();
  }
}
