/**
 * One code path, two databases: DATABASE_URL selects PostgreSQL (through @prisma/adapter-pg);
 * without it an embedded PGlite database lives under the data folder (COTSCOPE_DATA_DIR, ./data).
 * Besides the Prisma client a backend exposes a direct connection for the migration runner, and
 * says how capture blobs travel: PGlite's bytea through the Prisma adapter is slow, so blobs go
 * as base64 text through decode()/encode() there.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
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

export interface BlobTransport {
  /** SQL expression turning parameter $n into bytea. */
  param(index: number): string;
  /** Value to bind for that parameter. */
  value(bytes: Uint8Array): unknown;
  /** SQL expression selecting a bytea column so that `read` can turn it into bytes. */
  select(column: string): string;
  read(value: unknown): Uint8Array;
}

export interface Backend {
  kind: BackendKind;
  /** Human-readable location (URL without password, or folder). */
  location: string;
  schema: string;
  prisma: PrismaClient;
  direct: DirectSql;
  blobs: BlobTransport;
  close(): Promise<void>;
}

const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 10 * 60_000 };

export function defaultDataDir(): string {
  return resolve(process.env.COTSCOPE_DATA_DIR || 'data');
}

export async function openBackend(options: BackendOptions = {}): Promise<Backend> {
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  return databaseUrl ? openPostgres(databaseUrl, options.schema) : openPglite(options.dataDir ?? defaultDataDir());
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

async function openPostgres(databaseUrl: string, schemaOption: string | undefined): Promise<Backend> {
  const url = new URL(databaseUrl);
  const schema = schemaOption ?? url.searchParams.get('schema') ?? 'public';
  url.searchParams.delete('schema');
  const connectionString = url.toString();
  const searchPath = `-c search_path=${quoteIdent(schema)}`;
  const direct = new pg.Client({ connectionString, options: searchPath });
  await direct.connect();
  try {
    await direct.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  } catch (error) {
    await direct.end();
    throw error;
  }
  const pool = new pg.Pool({ connectionString, options: searchPath, max: 4 });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }), transactionOptions: TRANSACTION_OPTIONS });
  url.password = '';
  return {
    kind: 'postgres',
    location: url.toString(),
    schema,
    prisma,
    direct: {
      exec: async (script) => { await direct.query(script); },
      query: async <Row>(sql: string, params: unknown[] = []) => (await direct.query(sql, params)).rows as Row[],
    },
    blobs: {
      param: (index) => `$${index}`,
      value: (bytes) => bytes,
      select: (column) => column,
      read: (value) => value as Uint8Array,
    },
    close: async () => {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
      await direct.end();
    },
  };
}

async function openPglite(dataDir: string): Promise<Backend> {
  mkdirSync(dataDir, { recursive: true });
  const folder = join(dataDir, 'db');
  const db = await PGlite.create(folder);
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
    blobs: {
      param: (index) => `decode($${index}, 'base64')`,
      value: (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      select: (column) => `encode(${column}, 'base64')`,
      read: (value) => Buffer.from(value as string, 'base64'),
    },
    close: async () => {
      await prisma.$disconnect();
      await db.close();
    },
  };
}
