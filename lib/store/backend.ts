/**
 * One code path, two databases: DATABASE_URL selects PostgreSQL (through @prisma/adapter-pg);
 * without it an embedded PGlite database lives under the data folder (COTSCOPE_DATA_DIR, ./data).
 * Besides the Prisma client (queries, listing) a backend exposes plain SQL on the same database:
 * the migration runner and the capture-blob hot path use it, because bytea through Prisma is slow
 * (PGlite's adapter ~25 ms per 100 KB; Prisma's raw-query argument encoding on PostgreSQL).
 * Bytes are bound and returned natively (Buffer for pg, Uint8Array for PGlite).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { acquireFolderLock } from './folder-lock';
import { PrismaClient } from './generated/client';

export type BackendKind = 'postgres' | 'pglite';

export interface BackendOptions {
  /** PostgreSQL URL; default process.env.DATABASE_URL. Empty selects PGlite. */
  databaseUrl?: string;
  /** PGlite folder parent; default process.env.COTSCOPE_DATA_DIR or ./data. */
  dataDir?: string;
  /** PostgreSQL schema; default the URL's ?schema= or public. Created when missing. */
  schema?: string;
}

/** A direct connection for scripts (multi-statement SQL) outside Prisma. */
export interface DirectSql {
  exec(script: string): Promise<void>;
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
}

/** Parameterized SQL ($1, $2, ...) returning rows. */
export type SqlQuery = <Row>(sql: string, params?: unknown[]) => Promise<Row[]>;

/**
 * How bytea travels in plain SQL, which is how PGlite moves chunk bytes: as base64 text through
 * decode()/encode() (PGlite binds Uint8Array slowly). PostgreSQL moves them by binary COPY instead
 * (FastSql.copyOut, the transaction's copyIn).
 */
export interface BytesCodec {
  /** SQL expression turning parameter $index into bytea. */
  param(index: number): string;
  value(bytes: Uint8Array): unknown;
  /** SQL expression selecting a bytea column for `read`. */
  select(column: string): string;
  read(value: unknown): Uint8Array;
}

export const BASE64_BYTES: BytesCodec = {
  param: (index) => `decode($${index}, 'base64')`,
  value: (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
  select: (column) => `encode(${column}, 'base64')`,
  read: (value) => Buffer.from(value as string, 'base64'),
};

/**
 * Streams a binary COPY (`COPY ... FROM STDIN (FORMAT binary)`; data from lib/store/binary-copy.ts)
 * inside the transaction, pulling `data` lazily so the server stores one piece while this process
 * encodes the next.
 */
export type CopyIn = (sql: string, data: Iterable<Uint8Array>) => Promise<void>;

export interface FastSql {
  query: SqlQuery;
  /**
   * PostgreSQL: the whole output of `COPY (...) TO STDOUT (FORMAT binary)`, bytea as raw bytes
   * (node-postgres reads bytea results as hex text, or base64 through encode()). Null on PGlite.
   */
  copyOut: ((sql: string) => Promise<Buffer>) | null;
  /**
   * Runs `body` in one transaction: committed when it resolves, rolled back when it throws.
   * `copyIn` is null where COPY FROM STDIN is not available (PGlite).
   */
  transaction<T>(body: (query: SqlQuery, copyIn: CopyIn | null) => Promise<T>): Promise<T>;
}

export interface Backend {
  kind: BackendKind;
  /** Human-readable location (URL without password, or folder). */
  location: string;
  schema: string;
  prisma: PrismaClient;
  /** Single session for the migration runner (advisory locks, multi-statement scripts). */
  direct: DirectSql;
  /** Pooled plain SQL for the capture-blob path. */
  fast: FastSql;
  close(): Promise<void>;
}

const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 10 * 60_000 };

export function defaultDataDir(): string {
  return resolve(/*turbopackIgnore: true*/ process.env.COTSCOPE_DATA_DIR || 'data');
}

export async function openBackend(options: BackendOptions = {}): Promise<Backend> {
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  return databaseUrl ? openPostgres(databaseUrl, options.schema) : openPglite(options.dataDir ?? defaultDataDir());
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** SQLSTATE classes and driver messages that mean the connection, not the statement, failed. */
const CONNECTION_LOST_CODES = new Set(['57P01', '57P02', '57P03', '25P03']);
const CONNECTION_LOST_MESSAGE = /connection terminated|connection (is )?closed|terminating connection|ECONNRESET|ECONNREFUSED|EPIPE|Client has encountered a connection error|Connection ended unexpectedly/i;

/** True when an error means the database connection went away (the statement may succeed on a new one). */
export function isConnectionLost(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = (current as { cause?: unknown }).cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('08') || CONNECTION_LOST_CODES.has(code) || code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE')) return true;
    if (CONNECTION_LOST_MESSAGE.test(current.message)) return true;
  }
  return false;
}

/** The database stayed unreachable for the whole retry window. */
export class StoreUnavailableError extends Error {
  constructor(readonly location: string, cause: unknown) {
    super(`the database at ${location} is unreachable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

export interface RetryOptions {
  /** How long to keep retrying after a lost connection (default COTSCOPE_DB_RETRY_MS or 30 s). */
  windowMs?: number;
  location?: string;
}

/**
 * Runs `attempt` again on a new connection when the connection was lost, with backoff, for up to
 * the retry window; other errors pass through at once. `attempt` gets its 0-based try number so a
 * write can tell "my earlier try may have committed" apart from a conflict.
 */
export async function retryOnConnectionLoss<T>(attempt: (tryNumber: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const windowMs = options.windowMs ?? (Number(process.env.COTSCOPE_DB_RETRY_MS) || 30_000);
  const deadline = Date.now() + windowMs;
  for (let tryNumber = 0; ; tryNumber += 1) {
    try {
      return await attempt(tryNumber);
    } catch (error) {
      if (!isConnectionLost(error)) throw error;
      if (Date.now() >= deadline) throw new StoreUnavailableError(options.location ?? 'the configured URL', error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** tryNumber)));
    }
  }
}

/**
 * One long-lived session for the migration runner (advisory locks need the same session across
 * statements), reconnected on next use when the server closed it (idle_session_timeout,
 * pg_terminate_backend): an idle client's 'error' event must never reach the process as unhandled.
 */
function directSession(config: pg.ClientConfig): DirectSql & { end(): Promise<void> } {
  let client: Promise<pg.Client> | null = null;
  const connected = (): Promise<pg.Client> => {
    client ??= (async () => {
      const fresh = new pg.Client(config);
      fresh.on('error', () => { client = null; });
      fresh.on('end', () => { client = null; });
      await fresh.connect();
      return fresh;
    })().catch((error: unknown) => {
      client = null;
      throw error;
    });
    return client;
  };
  return {
    exec: async (script) => { await (await connected()).query(script); },
    query: async <Row>(sql: string, params: unknown[] = []) => (await (await connected()).query(sql, params)).rows as Row[],
    end: async () => {
      const current = client;
      client = null;
      if (current) await (await current.catch(() => null))?.end().catch(() => undefined);
    },
  };
}

function* asBuffers(data: Iterable<Uint8Array>): Generator<Buffer> {
  for (const piece of data) yield Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
}

async function openPostgres(databaseUrl: string, schemaOption: string | undefined): Promise<Backend> {
  const url = new URL(databaseUrl);
  const schema = schemaOption ?? url.searchParams.get('schema') ?? 'public';
  url.searchParams.delete('schema');
  const connectionString = url.toString();
  const searchPath = `-c search_path=${quoteIdent(schema)}`;
  const direct = directSession({ connectionString, options: searchPath });
  try {
    await direct.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  } catch (error) {
    await direct.end();
    throw error;
  }
  const pool = new pg.Pool({ connectionString, options: searchPath, max: 4 });
  // An idle pooled connection closed by the server is dropped from the pool; the next query opens another.
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }), transactionOptions: TRANSACTION_OPTIONS });
  url.password = '';
  return {
    kind: 'postgres',
    location: url.toString(),
    schema,
    prisma,
    direct,
    fast: {
      query: async <Row>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as Row[],
      copyOut: (sql) =>
        withPooledClient(pool, async (client) => {
          const pieces: Buffer[] = [];
          await pipeline(client.query(copyTo(sql)), new Writable({ write: (piece: Buffer, _encoding, done) => { pieces.push(piece); done(); } }));
          return Buffer.concat(pieces);
        }),
      transaction: (body) =>
        withPooledClient(pool, async (client) => {
          await client.query('BEGIN');
          try {
            const copyIn: CopyIn = (sql, data) => pipeline(Readable.from(asBuffers(data)), client.query(copyFrom(sql)));
            const result = await body(async <Row>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as Row[], copyIn);
            await client.query('COMMIT');
            return result;
          } catch (error) {
            if (!isConnectionLost(error)) await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
        }),
    },
    close: async () => {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
      await direct.end();
    },
  };
}

/**
 * Runs body on a client checked out of the pool and returns it, dropping it from the pool when the
 * connection was lost. A checked-out client has no pool listener for its 'error' event, and a lost
 * connection emits one besides failing the query (a COPY stream included): unheard, it would end
 * the process, so it is listened to here and the failure surfaces from the query alone.
 */
async function withPooledClient<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const ignore = () => undefined;
  client.on('error', ignore);
  let broken = false;
  try {
    return await body(client);
  } catch (error) {
    broken = isConnectionLost(error);
    throw error;
  } finally {
    client.off('error', ignore);
    client.release(broken);
  }
}

async function openPglite(dataDir: string): Promise<Backend> {
  mkdirSync(dataDir, { recursive: true });
  const folder = join(dataDir, 'db');
  const lock = acquireFolderLock(join(dataDir, 'db.lock'), folder);
  let db: PGlite;
  try {
    db = await PGlite.create(folder);
  } catch (error) {
    lock.release();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db), transactionOptions: TRANSACTION_OPTIONS });
  return {
    kind: 'pglite',
    location: folder,
    schema: 'public',
    prisma,
    direct: {
      exec: async (script) => { await db.exec(script); },
      query: async <Row>(sql: string, params: unknown[] = []) => (await db.query<Row>(sql, params)).rows,
    },
    fast: {
      query: async <Row>(sql: string, params: unknown[] = []) => (await db.query<Row>(sql, params)).rows,
      copyOut: null,
      // PGlite runs a transaction exclusively: Prisma's queries wait until it ends.
      transaction: (body) => db.transaction((tx) => body(async <Row>(sql: string, params: unknown[] = []) => (await tx.query<Row>(sql, params)).rows, null)),
    },
    close: async () => {
      try {
        await prisma.$disconnect();
        await db.close();
      } finally {
        lock.release();
      }
    },
  };
}
