import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SHORTCUTS } from '../../../lib/annotate/keys';

test("the README's shortcut table is the shortcut overlay's table", () => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Annotating'));
  const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| keys')).slice(0, SHORTCUTS.length);
  assert.deepEqual(rows, SHORTCUTS.map((shortcut) => `| ${shortcut.keys} | ${shortcut.does} |`));
});
