/** One colour per taxonomy label, by its position, shared by the span list, the text and the heatmap bands. */
import { schemeTableau10 } from 'd3';
import type { TaxonomyLabel } from './contracts';

const UNKNOWN_LABEL = '#9aa0aa';

export function labelColour(label: string, taxonomy: readonly TaxonomyLabel[]): string {
  const index = taxonomy.findIndex((entry) => entry.key === label);
  return index < 0 ? UNKNOWN_LABEL : schemeTableau10[index % schemeTableau10.length];
}

export function labelName(label: string, taxonomy: readonly TaxonomyLabel[]): string {
  return taxonomy.find((entry) => entry.key === label)?.name ?? label;
}
