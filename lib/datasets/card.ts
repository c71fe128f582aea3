/**
 * The dataset card (README.md): YAML front matter in the Hugging Face layout (configs, features,
 * splits, sizes, license) plus cotscope's own block (models, capture settings, filter versions,
 * label and verdict distributions), then a short human summary.
 */
import { hfFeatures, type Field, type IncludePart, type YamlValue } from './columns';
import type { DatasetRow } from './rows';

export interface DatasetStats {
  rows: number;
  tokens: number;
  dataBytes: number;
  files: string[];
  models: Map<string, DatasetRow['model_shape'] & { name: string; config_hash: string }>;
  efforts: Record<string, number>;
  labels: Record<string, number>;
  verdicts: Record<string, number>;
  filterVersions: Set<string>;
  sections: Set<string>;
  attentionTopK: Set<number>;
  devices: Set<string>;
}

export function emptyStats(): DatasetStats {
  return { rows: 0, tokens: 0, dataBytes: 0, files: [], models: new Map(), efforts: {}, labels: {}, verdicts: {}, filterVersions: new Set(), sections: new Set(), attentionTopK: new Set(), devices: new Set() };
}

const bump = (counts: Record<string, number>, key: string) => { counts[key] = (counts[key] ?? 0) + 1; };

export function countRow(stats: DatasetStats, row: DatasetRow): void {
  stats.rows++;
  stats.tokens += row.tokens.length;
  stats.models.set(`${row.model}\u0000${row.model_config_hash}`, { name: row.model, config_hash: row.model_config_hash, ...row.model_shape });
  bump(stats.efforts, row.reasoning_effort ?? 'none');
  for (const annotation of row.annotations ?? []) bump(stats.labels, annotation.label);
  for (const verdict of row.verdicts ?? []) bump(stats.verdicts, verdict.verdict);
  if (row.filter_name && row.filter_version) stats.filterVersions.add(`${row.filter_name}@${row.filter_version}`);
  for (const section of row.capture_sections) stats.sections.add(section);
  if (row.device) stats.devices.add(row.device);
  const topK = row.attention_top_positions?.shape[3];
  if (topK !== undefined) stats.attentionTopK.add(topK);
}

// ---------------------------------------------------------------------------------------------
// YAML: block style, every string double-quoted (JSON strings are valid YAML scalars).

function scalar(value: YamlValue): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function isBlock(value: YamlValue): value is YamlValue[] | { [key: string]: YamlValue } {
  return value !== null && typeof value === 'object' && (Array.isArray(value) ? value.length > 0 : Object.keys(value).length > 0);
}

export function toYaml(value: YamlValue, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value.map((item) => {
      if (!isBlock(item)) return `${indent}- ${Array.isArray(item) ? '[]' : item !== null && typeof item === 'object' ? '{}' : scalar(item)}\n`;
      const body = toYaml(item, `${indent}  `);
      return `${indent}- ${body.slice(indent.length + 2)}`;
    }).join('');
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).map(([key, inner]) => {
      if (!isBlock(inner)) return `${indent}${key}: ${Array.isArray(inner) ? '[]' : inner !== null && typeof inner === 'object' ? '{}' : scalar(inner)}\n`;
      return `${indent}${key}:\n${toYaml(inner, `${indent}  `)}`;
    }).join('');
  }
  return `${indent}${scalar(value)}\n`;
}

export interface CardSettings {
  format: 'parquet' | 'jsonl';
  split: string;
  include: readonly IncludePart[];
  license: string;
  rawIncluded: boolean;
  columns: Field[];
}

function sorted(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

export function datasetCard(stats: DatasetStats, settings: CardSettings): string {
  const models = [...stats.models.values()];
  const front: YamlValue = {
    license: settings.license,
    pretty_name: 'cotscope traces',
    tags: ['chain-of-thought', 'interpretability', 'mixture-of-experts', 'gpt-oss'],
    configs: [{ config_name: 'default', data_files: [{ split: settings.split, path: `data/${settings.split}-*` }] }],
    dataset_info: {
      features: hfFeatures(settings.columns),
      splits: [{ name: settings.split, num_bytes: stats.dataBytes, num_examples: stats.rows }],
      download_size: stats.dataBytes,
      dataset_size: stats.dataBytes,
    },
    cotscope: {
      format: settings.format,
      include: [...settings.include],
      raw_cot_included: settings.rawIncluded,
      traces: stats.rows,
      tokens: stats.tokens,
      files: stats.files,
      models: models.map((model) => ({ ...model })),
      capture: { sections: [...stats.sections].sort(), attention_top_k: [...stats.attentionTopK].sort((a, b) => a - b), devices: [...stats.devices].sort() },
      filter_versions: [...stats.filterVersions].sort(),
      reasoning_effort_distribution: sorted(stats.efforts),
      label_distribution: sorted(stats.labels),
      verdict_distribution: sorted(stats.verdicts),
    },
  };
  const modelNames = models.map((model) => `${model.name} (${model.num_layers} layers, top-${model.experts_per_token} of ${model.num_experts} experts)`).join(', ') || 'none';
  const summary = [
    '# cotscope traces',
    '',
    `${stats.rows} traces (${stats.tokens} tokens) captured with cotscope from ${modelNames}, one row per trace, as ${settings.format === 'parquet' ? 'Parquet' : 'JSON Lines'} in \`data/\`.`,
    '',
    settings.rawIncluded
      ? 'Raw chain of thought (the analysis channel) is INCLUDED: `raw_cot`, message text, annotation text and notes. Handle it as sensitive.'
      : 'Raw chain of thought is withheld: `raw_cot` is null, withheld message text is null and their token ids are -1; `filtered_cot` is the reasoning filter\'s output.',
    '',
    `Parts: ${settings.include.join(', ') || 'base columns only'}. Routing tensors are nested lists indexed [token][layer][k]; the columns are described in cotscope's README (Datasets).`,
    '',
    'Load with `datasets.load_dataset("parquet", data_dir="data")`, `pandas.read_parquet("data")` or DuckDB `SELECT * FROM \'data/*.parquet\'` (JSON Lines: `read_json`).',
    '',
  ].join('\n');
  return `---\n${toYaml(front)}---\n\n${summary}`;
}
