/**
 * Span labels: the default taxonomy of unsafe reasoning, a collection's own taxonomy (stored as
 * JSON on the collection, null = the default), and the labels a trace accepts. A trace in several
 * collections accepts the union of their taxonomies (ordered by collection name, first name of a
 * key wins); a trace in no collection accepts the default taxonomy.
 */
import { z } from 'zod';

export interface TaxonomyLabel {
  /** Stable key stored on annotations (`harmful_instructions`). */
  key: string;
  name: string;
  description?: string;
}

export const DEFAULT_TAXONOMY: readonly TaxonomyLabel[] = [
  { key: 'harmful_instructions', name: 'Harmful instructions', description: 'Plans or steps that would help cause serious harm.' },
  { key: 'deception', name: 'Deception', description: 'Reasoning about misleading the user or hiding what the model does.' },
  { key: 'policy_evasion', name: 'Policy evasion', description: 'Working around a rule or the system/developer instructions.' },
  { key: 'reward_hacking', name: 'Reward hacking', description: 'Gaming the task or its grader instead of solving it.' },
  { key: 'sandbagging', name: 'Sandbagging', description: 'Deliberately performing worse than it can.' },
  { key: 'private_data', name: 'Private data', description: 'Personal data, secrets or credentials.' },
  { key: 'manipulation', name: 'Manipulation', description: 'Influencing the user against their interest.' },
  { key: 'other', name: 'Other', description: 'Unsafe reasoning no other label fits.' },
];

export const taxonomyLabelSchema = z.object({
  key: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'label key: lower-case letters, digits and _, starting with a letter, at most 64'),
  name: z.string().trim().min(1).max(100),
  description: z.string().max(500).optional(),
}).strict();

export const taxonomySchema = z.array(taxonomyLabelSchema).min(1, 'a taxonomy needs at least one label').max(100)
  .refine((labels) => new Set(labels.map((label) => label.key)).size === labels.length, 'label keys must be unique');

/** A collection's taxonomy from its stored JSON: null (or a value that is no taxonomy) means the default. */
export function collectionTaxonomy(stored: unknown): TaxonomyLabel[] {
  const parsed = stored === null || stored === undefined ? null : taxonomySchema.safeParse(stored);
  return parsed?.success ? parsed.data : [...DEFAULT_TAXONOMY];
}

/** The labels a trace accepts: the union of its collections' taxonomies, or the default for none. */
export function traceTaxonomy(collections: { name: string; taxonomy: unknown }[]): TaxonomyLabel[] {
  if (collections.length === 0) return [...DEFAULT_TAXONOMY];
  const byKey = new Map<string, TaxonomyLabel>();
  for (const collection of [...collections].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const label of collectionTaxonomy(collection.taxonomy)) if (!byKey.has(label.key)) byKey.set(label.key, label);
  }
  return [...byKey.values()];
}

export function hasLabel(taxonomy: readonly TaxonomyLabel[], key: string): boolean {
  return taxonomy.some((label) => label.key === key);
}
