/**
 * `cotscope worker`: serve the capture queue on this machine. Any number of workers on any
 * number of machines share one PostgreSQL database (DATABASE_URL); each takes only jobs for the
 * model it loaded. SIGTERM (or Ctrl-C) finishes the running jobs within --grace-seconds, then
 * releases whatever is still running back to the queue; a second signal releases at once.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { CaptureQueue, DEFAULT_LEASE_SECONDS } from '../jobs/queue';
import { CaptureWorker } from '../jobs/worker';
import { loadRuntime } from '../runtime/runtime';
import type { Runtime } from '../runtime/types';
import { openStore } from '../store/index';
import { DEVICE_HELP, deviceOption, EXPERT_INPUTS_HELP, expertInputsOption } from './options';

const HELP = `usage: cotscope worker --model DIR [options]

  --model DIR            HF-layout gpt-oss checkpoint folder; the worker takes this model's jobs
  ${DEVICE_HELP}
  ${EXPERT_INPUTS_HELP}
  --concurrency N        jobs at a time, each with its own runtime (default 1)
  --threads N            onnxruntime intra-op threads per runtime (default: cores / concurrency)
  --lease-seconds S      an attempt silent this long is failed and retried elsewhere (default ${DEFAULT_LEASE_SECONDS})
  --grace-seconds S      on SIGTERM, how long running jobs may take to finish before release (default 60)

Needs DATABASE_URL (PostgreSQL): the queue lives in the trace store's database.`;

function positiveInteger(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${flag} must be a positive integer (got "${value}")`);
  return parsed;
}

export async function runWorkerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      'expert-inputs': { type: 'string' },
      concurrency: { type: 'string' },
      threads: { type: 'string' },
      'lease-seconds': { type: 'string' },
      'grace-seconds': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  if (!values.model) { console.error(`--model is required\n\n${HELP}`); return 2; }
  const device = deviceOption(values.device);
  const expertInputs = expertInputsOption(values['expert-inputs']);
  if (!process.env.DATABASE_URL) throw new Error('a worker needs DATABASE_URL: the job queue lives in the PostgreSQL trace store');
  const concurrency = positiveInteger(values.concurrency, '--concurrency', 1);
  const threads = positiveInteger(values.threads, '--threads', Math.max(1, Math.floor(os.availableParallelism() / concurrency)));
  const leaseSeconds = positiveInteger(values['lease-seconds'], '--lease-seconds', DEFAULT_LEASE_SECONDS);
  const graceSeconds = positiveInteger(values['grace-seconds'], '--grace-seconds', 60);

  const store = await openStore();
  const runtimes: Runtime[] = [];
  let queue: CaptureQueue | null = null;
  const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);
  try {
    for (let slot = 0; slot < concurrency; slot++) runtimes.push(await loadRuntime(values.model, { threads, device, expertInputs }));
    queue = await CaptureQueue.open(store);
    const worker = new CaptureWorker(store, queue, runtimes, { device: runtimes[0].device, leaseSeconds, log });
    let signals = 0;
    const onSignal = (signal: string) => {
      signals += 1;
      if (signals > 1 || worker.busy === 0) {
        log(`${signal}: releasing running jobs and stopping`);
        worker.release();
        return;
      }
      log(`${signal}: finishing ${worker.busy} running job(s) (up to ${graceSeconds} s), then stopping; send again to release now`);
      worker.stop();
      setTimeout(() => worker.release(), graceSeconds * 1000).unref();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    log(`worker ${worker.id}: warming up ${concurrency} runtime(s) of ${worker.model}; store ${store.backend.location}`);
    try {
      await worker.start();
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    log(`worker ${worker.id} stopped`);
    return 0;
  } finally {
    await queue?.close();
    await Promise.allSettled(runtimes.map((runtime) => runtime.close()));
    await store.close();
  }
}
