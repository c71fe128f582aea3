/**
 * A batch capture survives PostgreSQL closing its connections (idle_session_timeout,
 * pg_terminate_backend): every trace is written, the process exits 0. When the database stays
 * unreachable, the capture stops with a clear message and the finished generation is kept on disk.
 * A connection terminated under a COPY read or a transaction fails that call, not the process.
 * Real PostgreSQL server, real CLI processes, real onnxruntime sessions.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { isConnectionLost, openBackend } from '../../lib/store/backend';
import { openStore } from '../../lib/store/index';

const databaseUrl = process.env.DATABASE_URL;
const skip = databaseUrl ? false : 'no PostgreSQL server (DATABASE_URL unset): the dropped-connection tests need one';
if (skip) console.log(`# skipped: ${skip}`);

const database = `cotscope_reliability_${process.pid}`;
let work: string;
let modelDir: string;

function urlFor(name: string, port?: number): string {
  const url = new URL(databaseUrl!);
  url.pathname = `/${name}`;
  if (port !== undefined) { url.hostname = '127.0.0.1'; url.port = String(port); }
  return url.toString();
}

async function adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

interface CliResult { code: number | null; stderr: string }

function capture(args: string[], env: Record<string, string>, whileRunning?: () => void): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'capture', '--model', modelDir, ...args], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => { stderr += data.toString(); });
    child.stdout.resume();
    whileRunning?.();
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

function promptFile(count: number): string {
  const file = join(work, `prompts-${count}.jsonl`);
  writeFileSync(file, Array.from({ length: count }, (_, i) => JSON.stringify({ id: `q${i}`, prompt: `Question number ${i}?` })).join('\n'));
  return file;
}

async function statusCounts(): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    const rows = (await client.query<{ status: string; count: string }>('SELECT status::text AS status, count(*) AS count FROM traces GROUP BY status')).rows;
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
  } finally {
    await client.end();
  }
}

/**
 * Terminates the test database's server processes (not the admin's own): all of them, or only those
 * running a statement that contains `statement`. Returns how many it terminated.
 */
async function terminateBackends(statement?: string): Promise<number> {
  const rows = await adminQuery(
    "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND ($2::text IS NULL OR (state = 'active' AND position($2 in query) > 0))",
    [database, statement ?? null]);
  return rows.rows.filter((row: { killed: boolean }) => row.killed).length;
}

describe('capture when PostgreSQL drops the connection', { skip }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cotscope-reliability-'));
    modelDir = join(work, 'model');
    await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 5 });
    await adminQuery(`DROP DATABASE IF EXISTS ${database}`);
    await adminQuery(`CREATE DATABASE ${database}`);
  });

  after(async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  test('idle_session_timeout closing idle connections mid-capture loses no trace', async () => {
    await adminQuery(`ALTER DATABASE ${database} SET idle_session_timeout = '250ms'`);
    try {
      const result = await capture(['--prompts', promptFile(6), '--max-new-tokens', '120', '--collection', 'idle'], { DATABASE_URL: urlFor(database) });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /6 complete, 0 failed/);
      assert.doesNotMatch(result.stderr, /Unhandled|idle-session timeout/);
    } finally {
      await adminQuery(`ALTER DATABASE ${database} RESET idle_session_timeout`);
    }
    assert.equal((await statusCounts()).complete, 6);
  });

  test('pg_terminate_backend on every connection, repeatedly, loses no trace', async () => {
    const before = (await statusCounts()).complete ?? 0;
    let terminations = 0;
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        terminations += await terminateBackends();
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    const result = await capture(['--prompts', promptFile(8), '--max-new-tokens', '60', '--collection', 'terminate'], { DATABASE_URL: urlFor(database) });
    stop = true;
    await killer;
    assert.ok(terminations > 0, 'the test terminated no connection: it proved nothing');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /8 complete, 0 failed/);
    assert.equal((await statusCounts()).complete, before + 8);
    // Every trace written across terminated connections is whole (a retried write re-encodes its chunks).
    const store = await openStore({ databaseUrl: urlFor(database) });
    try {
      for (const item of (await store.traces.list({ collection: 'terminate' }, { limit: 50 })).items) {
        const trace = await store.traces.get(item.id, { includeRawCot: true });
        assert.equal(trace?.tokens.length, item.tokenCount);
        assert.equal(trace?.routing?.numTokens, item.tokenCount);
      }
    } finally {
      await store.close();
    }
  });

  test('a connection terminated under a COPY read or a transaction fails that call alone, and the next call works', async () => {
    const backend = await openBackend({ databaseUrl: urlFor(database) });
    // Terminates the server process running a statement that matches, once it runs.
    const terminateWhenRunning = async (statement: string) => {
      for (let tries = 0; tries < 200; tries++) {
        if ((await terminateBackends(statement)) > 0) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.fail(`no statement with ${statement} ran`);
    };
    try {
      const { copyOut } = backend.fast;
      assert.ok(copyOut, 'the PostgreSQL backend reads by COPY');
      // A checked-out client emits 'error' besides failing the COPY; unheard, that event ends the process.
      const reading = assert.rejects(copyOut('COPY (SELECT g, pg_sleep(0.002) FROM generate_series(1, 5000) g) TO STDOUT'), isConnectionLost);
      await terminateWhenRunning('generate_series(1, 5000)');
      await reading;
      const writing = assert.rejects(backend.fast.transaction(async (query) => { await query('SELECT pg_sleep(20)'); }), isConnectionLost);
      await terminateWhenRunning('pg_sleep(20)');
      await writing;
      assert.deepEqual(await backend.fast.query('SELECT 1 AS one'), [{ one: 1 }]);
    } finally {
      await backend.close();
    }
  });

  test('a database that stays unreachable stops the batch with a clear message and keeps the generation on disk', async () => {
    // A TCP relay to the server that the test cuts once the first trace has started generating.
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(new URL(databaseUrl!).port || 5432), '127.0.0.1');
      for (const socket of [client, upstream]) { sockets.add(socket); socket.on('error', () => undefined); socket.on('close', () => sockets.delete(socket)); }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as net.AddressInfo).port;
    const dataDir = join(work, 'data-unreachable');
    const result = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'capture', '--model', modelDir, '--prompts', promptFile(3), '--max-new-tokens', '400', '--collection', 'cut'], {
        env: { ...process.env, DATABASE_URL: urlFor(database, port), COTSCOPE_DATA_DIR: dataDir, COTSCOPE_DB_RETRY_MS: '1500' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (data: Buffer) => {
        stderr += data.toString();
        if (/started q0/.test(stderr) && relay.listening) {
          relay.close();
          for (const socket of sockets) socket.destroy();
        }
      });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /is unreachable/);
    assert.match(result.stderr, /kept in .*unsaved/);
    assert.doesNotMatch(result.stderr, /Unhandled/);
    const unsaved = join(dataDir, 'unsaved');
    assert.ok(existsSync(unsaved), result.stderr);
    const [file] = readdirSync(unsaved);
    const kept = JSON.parse(readFileSync(join(unsaved, file), 'utf8')) as { id: string; tokens: number[]; promptLength: number };
    assert.ok(kept.tokens.length > kept.promptLength, 'the kept document holds the generated tokens');
  });
});
