/**
 * A taxonomy edited as text, one label a line: `key | name | description` (name and description
 * optional). The server validates the result; this only splits lines and reports the line at fault.
 */
import type { TaxonomyLabel } from './contracts';

export function taxonomyToText(taxonomy: readonly TaxonomyLabel[]): string {
  return taxonomy.map((label) => [label.key, label.name, label.description].filter((part) => part !== undefined && part !== '').join(' | ')).join('\n');
}

export function parseTaxonomyText(text: string): { taxonomy: TaxonomyLabel[] } | { error: string } {
  const taxonomy: TaxonomyLabel[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    if (lines[index].trim() === '') continue;
    // The description is everything after the second bar, bars included.
    const [key, name = '', ...rest] = lines[index].split('|');
    const description = rest.join('|').trim();
    const label = key.trim();
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(label)) return { error: `line ${index + 1}: the key must be lower-case letters, digits, - or _ (got ${JSON.stringify(label)})` };
    if (taxonomy.some((entry) => entry.key === label)) return { error: `line ${index + 1}: the key ${label} appears twice` };
    taxonomy.push({ key: label, name: name.trim() || label, ...(description ? { description } : {}) });
  }
  if (taxonomy.length === 0) return { error: 'a taxonomy needs at least one label' };
  return { taxonomy };
}
