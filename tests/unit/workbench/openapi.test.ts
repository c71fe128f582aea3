/**
 * The OpenAPI document covers every route handler under app/api (found from the tree itself, so
 * a route added later without a registry entry fails here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openApiDocument } from '../../../lib/workbench/openapi';

const API_DIR = path.resolve(import.meta.dirname, '../../../app/api');
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

function routeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? routeFiles(full) : entry.name === 'route.ts' ? [full] : [];
  });
}

test('every route handler under app/api has its method and path in /api/openapi.json', () => {
  const document = openApiDocument() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.equal(document.openapi, '3.1.0');
  const missing: string[] = [];
  for (const file of routeFiles(API_DIR)) {
    const template = `/api/${path.relative(API_DIR, path.dirname(file)).split(path.sep).join('/')}`.replace(/\[(\w+)\]/g, '{$1}');
    const source = readFileSync(file, 'utf8');
    for (const method of METHODS.filter((m) => new RegExp(`export\\s+async\\s+function\\s+${m}\\b`).test(source))) {
      if (!document.paths[template]?.[method.toLowerCase()]) missing.push(`${method} ${template}`);
    }
  }
  assert.deepEqual(missing, []);
});
