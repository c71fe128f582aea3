/**
 * `npm start`: the workbench on its embedded defaults, ready for a newcomer.
 *   1. a tiny generated checkpoint in models/tiny (COTSCOPE_MODEL_DIR) if none is there,
 *   2. the trace store (DATABASE_URL, else PGlite in ./data) with the demo collection seeded
 *      (lib/review/demo.ts) and soft-deleted traces past the retention period purged,
 *   3. the Next.js app on PORT (default 3000): a production build (built when missing or stale),
 *      or the dev server with --dev.
 * Flags: --dev, --port N, --no-demo.
 */
import http from 'node:http';
import path from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import next from 'next';

process.env.NEXT_TELEMETRY_DISABLED = '1';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(ROOT);

interface StartOptions {
  dev: boolean;
  port: number;
  demo: boolean;
}

function parseArgs(argv: string[]): StartOptions {
  const options: StartOptions = { dev: false, port: Number(process.env.PORT || 3000), demo: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--dev') options.dev = true;
    else if (flag === '--no-demo') options.demo = false;
    else if (flag === '--port') options.port = Number(argv[++i]);
    else throw new Error(`unknown argument ${JSON.stringify(flag)} (use --dev, --port N, --no-demo)`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error(`port must be an integer in 0..65535 (got ${options.port})`);
  return options;
}

async function ensureModel(): Promise<string> {
  const { ensureGeneratedCheckpoint } = await import('../lib/model/generate');
  const { modelDir } = await import('../lib/workbench/server');
  const dir = modelDir();
  if (!existsSync(path.join(dir, 'config.json'))) {
    console.log(`[start] no model in ${dir}: writing a tiny generated checkpoint (random weights)`);
    await ensureGeneratedCheckpoint(dir, 'tiny');
  }
  return dir;
}

/**
 * Purges traces soft-deleted longer ago than COTSCOPE_RETENTION_DAYS (default 30), then seeds the
 * `demo` collection (lib/review/demo.ts: compare pair, planted reasoning with redactions, two demo
 * annotators' spans and verdicts), capturing only what is missing so restarts are quick.
 */
async function prepareStore(demo: boolean): Promise<void> {
  const { closeWorkbench, runtime, store } = await import('../lib/workbench/server');
  const { purgeDeletedTraces, retentionDays } = await import('../lib/review/curation');
  const { seedDemo } = await import('../lib/review/demo');
  try {
    const purged = await purgeDeletedTraces((await store()).backend, 'cotscope start');
    if (purged.length > 0) console.log(`[start] purged ${purged.length} trace(s) deleted more than ${retentionDays()} days ago`);
    if (!demo) return;
    console.log('[start] seeding the demo collection (captures only what is missing)');
    await seedDemo(await store(), await runtime());
  } finally {
    // The app opens its own connection; an embedded database must not stay open twice.
    await closeWorkbench();
  }
}

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(full));
    else if (/\.(tsx?|css|mjs)$/.test(entry.name)) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

function ensureBuild(): void {
  const buildId = path.join(process.env.COTSCOPE_DIST_DIR || '.next', 'BUILD_ID');
  const sources = Math.max(newestSourceMtime('app'), newestSourceMtime('lib'), ...['next.config.mjs', 'proxy.ts'].map((file) => statSync(file).mtimeMs));
  if (existsSync(buildId) && statSync(buildId).mtimeMs >= sources) return;
  console.log('[start] building the app (next build)...');
  const nextBin = createRequire(import.meta.url).resolve('next/dist/bin/next');
  const build = spawnSync(process.execPath, [nextBin, 'build'], { stdio: 'inherit', env: process.env });
  if (build.status !== 0) throw new Error(`next build failed (exit ${build.status}); run \`npm run build\` to see why, or \`npm start -- --dev\``);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const model = await ensureModel();
  await prepareStore(options.demo);
  if (!options.dev) ensureBuild();
  const app = next({ dev: options.dev, dir: ROOT, hostname: '127.0.0.1', port: options.port });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = http.createServer((request, response) => void handle(request, response));
  server.listen(options.port, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    console.log(`[start] cotscope workbench on http://127.0.0.1:${port} (${options.dev ? 'dev' : 'production'}; model ${model})`);
  });
  const shutdown = async () => {
    server.close();
    const { closeWorkbench } = await import('../lib/workbench/server');
    await closeWorkbench();
    await app.close?.();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: Error) => {
  console.error(`[start] ${error.message}`);
  process.exit(1);
});
