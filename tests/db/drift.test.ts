/**
 * The migrated database must match prisma/schema.prisma: same tables, columns, column types,
 * nullability and enum values. The schema is read with a small parser (models, fields, @map,
 * @@map, @db.*), so a field added to schema.prisma without a migration (or the reverse) fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { openStore, type Store } from '../../lib/store/index';
import { backendsUnderTest } from './helpers';

interface ExpectedColumn { table: string; column: string; type: string; nullable: boolean }

const SCALAR_TYPES: Record<string, string> = {
  String: 'text', Int: 'integer', BigInt: 'bigint', Float: 'double precision', Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone', Json: 'jsonb', Bytes: 'bytea', Decimal: 'numeric(65,30)',
};
const NATIVE_TYPES: Record<string, string> = { 'Timestamptz(3)': 'timestamp(3) with time zone', Text: 'text' };

function parseSchema(source: string) {
  const text = source.replace(/\/\/.*$/gm, '');
  const enums = new Map<string, string[]>();
  for (const match of text.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) enums.set(match[1], match[2].split(/\s+/).filter(Boolean));
  const blocks = [...text.matchAll(/model\s+(\w+)\s*\{([^}]*)\}/g)];
  const models = new Set(blocks.map((block) => block[1]));
  const columns: ExpectedColumn[] = [];
  for (const [, modelName, body] of blocks) {
    const table = /@@map\("([^"]+)"\)/.exec(body)?.[1] ?? modelName;
    for (const line of body.split('\n').map((raw) => raw.trim())) {
      const field = /^(\w+)\s+(\w+(?:\("[^"]*"\))?)(\[\])?(\?)?(.*)$/.exec(line);
      if (!field || line.startsWith('@@')) continue;
      const [, name, rawType, list, optional, attributes] = field;
      if (models.has(rawType)) continue; // relation field, no column
      const column = /@map\("([^"]+)"\)/.exec(attributes)?.[1] ?? name;
      const unsupported = /^Unsupported\("([^"]+)"\)$/.exec(rawType)?.[1];
      const native = /@db\.(\w+(?:\([^)]*\))?)/.exec(attributes)?.[1];
      let type = unsupported ?? (native ? NATIVE_TYPES[native] : undefined) ?? SCALAR_TYPES[rawType] ?? (enums.has(rawType) ? `enum ${rawType}` : undefined);
      assert.ok(type, `schema.prisma: no database type known for ${modelName}.${name} (${rawType}${native ? ` @db.${native}` : ''})`);
      if (list) type = `${type}[]`;
      columns.push({ table, column, type, nullable: optional === '?' });
    }
  }
  return { enums, columns };
}

interface ColumnRow { table_name: string; column_name: string; type: string; is_nullable: string; udt_name: string; data_type: string }

for (const backend of backendsUnderTest()) {
  describe(`migrations match schema.prisma (${backend.name})`, () => {
    let store: Store;
    before(async () => { store = await openStore(backend.options); });
    after(async () => { await store.close(); await backend.cleanup(); });

    test('every schema.prisma column exists with its type and nullability, and no other', async () => {
      const { columns: expected } = parseSchema(readFileSync('prisma/schema.prisma', 'utf8'));
      const rows = await store.backend.direct.query<ColumnRow>(
        `SELECT c.table_name, c.column_name, c.is_nullable, c.udt_name, c.data_type,
                format_type(a.atttypid, a.atttypmod) AS type
           FROM information_schema.columns c
           JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
          WHERE c.table_schema = $1 AND c.table_name <> '_prisma_migrations'`, [store.backend.schema]);
      const describe = (column: ExpectedColumn) => `${column.table}.${column.column} ${column.type}${column.nullable ? ' null' : ' not null'}`;
      const actual = rows.map((row) => describe({
        table: row.table_name, column: row.column_name, nullable: row.is_nullable === 'YES',
        type: row.data_type === 'USER-DEFINED' && row.udt_name !== 'tsvector' ? `enum ${row.udt_name}` : row.type.replaceAll('"', ''),
      }));
      assert.deepEqual(actual.sort(), expected.map(describe).sort());
    });

    test('enum values match schema.prisma', async () => {
      const { enums } = parseSchema(readFileSync('prisma/schema.prisma', 'utf8'));
      const rows = await store.backend.direct.query<{ name: string; value: string }>(
        `SELECT t.typname AS name, e.enumlabel AS value FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
           JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 ORDER BY t.typname, e.enumsortorder`, [store.backend.schema]);
      const actual = new Map<string, string[]>();
      for (const row of rows) actual.set(row.name, [...(actual.get(row.name) ?? []), row.value]);
      assert.deepEqual(actual, enums);
    });

    test('applied migrations are recorded like prisma migrate deploy (sha256 of migration.sql)', async () => {
      const rows = await store.backend.direct.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
        'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"');
      const { createHash } = await import('node:crypto');
      const { readdirSync } = await import('node:fs');
      const onDisk = readdirSync('prisma/migrations', { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
      assert.deepEqual(rows.map((row) => row.migration_name).sort(), onDisk);
      for (const row of rows) {
        const sql = readFileSync(`prisma/migrations/${row.migration_name}/migration.sql`);
        assert.equal(row.checksum, createHash('sha256').update(sql).digest('hex'));
        assert.ok(row.finished_at);
        assert.equal(row.applied_steps_count, 1);
      }
    });

    test('reopening applies nothing twice and an edited applied migration is refused', async () => {
      const { migrate, readMigrations } = await import('../../lib/store/migrate');
      assert.deepEqual(await migrate(store.backend.direct), []);
      const [first] = readMigrations();
      await store.backend.direct.query('UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = $2', ['0'.repeat(64), first.name]);
      await assert.rejects(migrate(store.backend.direct), new RegExp(`migration ${first.name} was modified after it was applied`));
      await store.backend.direct.query('UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = $2', [first.checksum, first.name]);
    });
  });
}
