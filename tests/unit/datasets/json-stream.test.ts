/**
 * The streamed JSON documents are byte-identical to one JSON.stringify of the nested document, and
 * the README documents every dataset column.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { allColumns, parquetSchema } from '../../../lib/datasets/columns';
import { toRunJson } from '../../../lib/trace/json';
import { streamableRunJson, writeJson } from '../../../lib/trace/json-stream';
import { syntheticRun, TINY_SHAPE } from '../../db/helpers';

async function streamed(document: unknown): Promise<{ text: string; pieces: number }> {
  const pieces: string[] = [];
  await writeJson((piece) => { pieces.push(piece); }, document);
  return { text: pieces.join(''), pieces: pieces.length };
}

test('a streamed run --json document equals JSON.stringify of the nested one', async () => {
  const run = syntheticRun({ ...TINY_SHAPE, generated: 400 }, 3);
  const { text, pieces } = await streamed(streamableRunJson(run));
  assert.equal(text, JSON.stringify(toRunJson(run)));
  assert.ok(pieces > 1, 'written in pieces, not as one string');
});

test('streamed JSON writes typed arrays, bigints, dates, nulls and skips undefined like JSON.stringify', async () => {
  const value = { a: new Float64Array([1.5, Number.NaN, -0]), b: 12n, c: new Date(0), d: [undefined, null], e: undefined, f: 'é"\n' };
  assert.equal((await streamed(value)).text, JSON.stringify({ ...value, a: [1.5, null, 0], b: 12 }));
});

test('every dataset column is in the README column table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const datasets = readme.slice(readme.indexOf('## Datasets'), readme.indexOf('\n## ', readme.indexOf('## Datasets') + 1));
  for (const column of allColumns()) assert.ok(datasets.includes(`| \`${column.name}\` |`), `README documents ${column.name}`);
});

test('tensor columns are three-level Parquet LISTs nested per axis', () => {
  const schema = parquetSchema(allColumns().filter((column) => column.name === 'routing_experts'));
  assert.deepEqual(schema.map((element) => [element.name, element.repetition_type, element.converted_type ?? element.type]), [
    ['root', undefined, undefined], ['routing_experts', 'OPTIONAL', 'LIST'], ['list', 'REPEATED', undefined], ['element', 'REQUIRED', 'LIST'],
    ['list', 'REPEATED', undefined], ['element', 'REQUIRED', 'LIST'], ['list', 'REPEATED', undefined], ['element', 'REQUIRED', 'UINT_8'],
  ]);
});
