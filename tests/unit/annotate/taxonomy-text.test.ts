import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTaxonomyText, taxonomyToText } from '../../../lib/annotate/taxonomy-text';

test('a taxonomy written as text reads back as the same labels', () => {
  const taxonomy = [{ key: 'deception', name: 'Deception', description: 'says one thing, plans another | or hides it' }, { key: 'other', name: 'Other' }];
  assert.deepEqual(parseTaxonomyText(taxonomyToText(taxonomy)), { taxonomy });
});

test('a line with only a key names the label after its key; blank lines are skipped', () => {
  assert.deepEqual(parseTaxonomyText('\nsandbagging\n\n'), { taxonomy: [{ key: 'sandbagging', name: 'sandbagging' }] });
});

test('a bad key, a repeated key or an empty taxonomy is refused naming the line', () => {
  assert.deepEqual(parseTaxonomyText('ok\nBad Key | x'), { error: 'line 2: the key must be lower-case letters, digits, - or _ (got "Bad Key")' });
  assert.deepEqual(parseTaxonomyText('a\na | again'), { error: 'line 2: the key a appears twice' });
  assert.deepEqual(parseTaxonomyText('  \n'), { error: 'a taxonomy needs at least one label' });
});
