/**
 * `npm run bench:store-ceiling`: how fast this machine's PostgreSQL stores bytea at all, the bound under
 * bench:store's ingest figures. A 512 MiB transaction of 8 MiB random values into a STORAGE EXTERNAL table
 * (as trace_chunks.data), from an empty table after a CHECKPOINT (the best case), WAL as configured:
 * generated inside the server (INSERT ... SELECT, no client), and by binary COPY from Node with one
 * stream and with two at once (each its own connection and transaction). DATABASE_URL, else the local
 * test database; a fresh schema, dropped afterwards. MB = 10^6 bytes; ROUNDS (default 5).
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { COPY_HEADER, COPY_TRAILER, copyRow } from '../lib/store/binary-copy';

const url = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const VALUE_BYTES = 8 << 20;
const ROWS = 64;
const schema = `cotscope_ceiling_${process.pid}`;
const value = randomBytes(VALUE_BYTES);
const results = new Map<string, number[]>();

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  return client;
}

async function inTransaction(client: pg.Client, body: () => Promise<unknown>): Promise<void> {
  await client.query('BEGIN');
  await body();
  await client.query('COMMIT');
}

async function copyRows(client: pg.Client, count: number): Promise<void> {
  function* data(): Generator<Buffer> {
    for (const piece of [COPY_HEADER, ...Array.from({ length: count }, (_, row) => copyRow([row, value])).flat(), COPY_TRAILER]) {
      yield Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    }
  }
  await pipeline(Readable.from(data()), client.query(copyFrom('COPY t (id, data) FROM STDIN (FORMAT binary)')));
}

/** One timed round from an empty table and a fresh checkpoint; MB/s of bytea stored (MB = 10^6 bytes). */
async function round(admin: pg.Client, label: string, body: () => Promise<void>): Promise<void> {
  await admin.query('TRUNCATE t');
  await admin.query('CHECKPOINT');
  const started = performance.now();
  await body();
  const rate = (ROWS * VALUE_BYTES) / 1e6 / ((performance.now() - started) / 1000);
  results.set(label, [...(results.get(label) ?? []), rate]);
}

const setup = new pg.Client({ connectionString: url });
await setup.connect();
await setup.query(`CREATE SCHEMA ${schema}`);
const clients: pg.Client[] = [];
try {
  const [admin, second] = [await connect(), await connect()];
  clients.push(admin, second);
  for (const table of ['src', 't']) await admin.query(`CREATE TABLE ${table} (id int, data bytea); ALTER TABLE ${table} ALTER COLUMN data SET STORAGE EXTERNAL`);
  await admin.query('INSERT INTO src VALUES (0, $1)', [value]);
  for (let index = 0; index < ROUNDS; index++) {
    await round(admin, 'server-generated INSERT ... SELECT', () => inTransaction(admin, () => admin.query(`INSERT INTO t SELECT g, data FROM src, generate_series(1, ${ROWS}) g`)));
    await round(admin, 'binary COPY from Node, 1 stream', () => inTransaction(admin, () => copyRows(admin, ROWS)));
    await round(admin, 'binary COPY from Node, 2 streams', async () => { await Promise.all(clients.map((client) => inTransaction(client, () => copyRows(client, ROWS / 2)))); });
  }
  console.log(`${ROWS} x ${VALUE_BYTES >> 20} MiB bytea values per round, ${ROUNDS} rounds (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end)`);
  for (const [label, rates] of results) {
    const sorted = [...rates].sort((a, b) => a - b);
    console.log(`${label.padEnd(36)} median ${sorted[sorted.length >> 1].toFixed(0)} MB/s (min ${sorted[0].toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)})`);
  }
} finally {
  await Promise.all(clients.map((client) => client.end()));
  await setup.query(`DROP SCHEMA ${schema} CASCADE`);
  await setup.end();
}
