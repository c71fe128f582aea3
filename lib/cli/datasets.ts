/**
 * `cotscope export` and `cotscope import`: trace datasets (Parquet or JSON Lines with a dataset
 * card, README "Datasets"). Export runs as the caller (a viewer's export withholds raw reasoning);
 * import writes traces and needs the researcher role.
 */
import { existsSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { actorOf } from '../auth/audit';
import { INCLUDE_PARTS, DEFAULT_INCLUDE, type IncludePart } from '../datasets/columns';
import { exportDataset, folderOutput, RAW_EXPORT_ROLE, type DatasetFormat } from '../datasets/export';
import { importDataset } from '../datasets/import';
import { openStore } from '../store/index';
import { requireCliRole } from './access';
import { Progress } from './capture';
import { integerOption } from './options';
import { FILTER_OPTIONS, filtersFrom } from './traces';

const EXPORT_HELP = `usage: cotscope export --out DIR [--collection NAME | --ids ID,ID | list filters] [options]

  --out DIR            dataset folder to write (must be empty or new): data/<split>-0000i-of-0000n.<format>, README.md
  --format parquet|jsonl   (default parquet)
  --include LIST       ${INCLUDE_PARTS.join(',')} (default ${DEFAULT_INCLUDE.join(',')}; raw needs ${RAW_EXPORT_ROLE})
  --shard-size N       traces per data file (default 1000)
  --split NAME         split name in file names and the card (default train)
  --license ID         license field of the card (default other)
  --ids ID,ID          these traces (else the list filters; status defaults to complete)
list filters: --model --collection --effort --status --tag --prompt-id --since --until --search`;

const IMPORT_HELP = `usage: cotscope import PATH

  PATH   a dataset folder written by export (its data/*.parquet or data/*.jsonl), one such file, or
         run --json / traces get --json documents (.json: one document; .jsonl: one per line).
         Traces whose id is already in the store are skipped.`;

function parseInclude(value: string | undefined): IncludePart[] {
  if (value === undefined) return [...DEFAULT_INCLUDE];
  const parts = value.split(',').map((part) => part.trim()).filter(Boolean);
  const unknown = parts.filter((part) => !(INCLUDE_PARTS as readonly string[]).includes(part));
  if (unknown.length > 0) throw new Error(`--include takes ${INCLUDE_PARTS.join(', ')} (got "${unknown.join(',')}")`);
  return parts as IncludePart[];
}

export async function runExportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      out: { type: 'string' }, format: { type: 'string', default: 'parquet' }, include: { type: 'string' }, 'shard-size': { type: 'string' },
      split: { type: 'string', default: 'train' }, license: { type: 'string', default: 'other' }, ids: { type: 'string' }, help: { type: 'boolean', default: false },
      ...FILTER_OPTIONS,
    },
  });
  if (values.help) { console.log(EXPORT_HELP); return 0; }
  if (!values.out) { console.error(`--out DIR is required\n\n${EXPORT_HELP}`); return 2; }
  if (values.format !== 'parquet' && values.format !== 'jsonl') throw new Error(`--format must be parquet or jsonl (got "${values.format}")`);
  if (!/^[A-Za-z0-9_.-]+$/.test(values.split!)) throw new Error(`--split may hold letters, digits, _ . and - (got "${values.split}")`);
  if (existsSync(values.out) && readdirSync(values.out).length > 0) throw new Error(`--out ${values.out} is not empty: export into a new or empty folder`);
  const include = parseInclude(values.include);
  const shardSize = integerOption(values['shard-size'], '--shard-size', 1000, { min: 1 });
  const store = await openStore();
  try {
    const identity = await requireCliRole(store, include.includes('raw') ? RAW_EXPORT_ROLE : 'viewer');
    let progress: Progress | null = null;
    let lastTokens = 0;
    const { stats } = await exportDataset(store, identity, values.ids ? { ids: values.ids.split(',').map((id) => id.trim()).filter(Boolean) } : { filters: filtersFrom(values) }, {
      format: values.format as DatasetFormat, include, shardSize, split: values.split, license: values.license, via: 'cli export',
      onProgress: (done, total, tokens) => {
        progress ??= new Progress(total, process.stderr);
        progress.addTokens(tokens - lastTokens);
        lastTokens = tokens;
        progress.render(done, `${tokens} tokens`, done === total);
      },
    }, folderOutput(values.out));
    console.log(`exported ${stats.rows} traces (${stats.tokens} tokens, ${stats.dataBytes} bytes in ${stats.files.length} files) to ${values.out}`);
    return 0;
  } finally {
    await store.close();
  }
}

export async function runImportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { help: { type: 'boolean', default: false } } });
  if (values.help) { console.log(IMPORT_HELP); return 0; }
  if (positionals.length !== 1) { console.error(`import takes one PATH\n\n${IMPORT_HELP}`); return 2; }
  if (!existsSync(positionals[0])) throw new Error(`${positionals[0]} does not exist`);
  const store = await openStore();
  try {
    const identity = await requireCliRole(store, 'researcher');
    const summary = await importDataset(store, positionals[0], actorOf(identity), ({ imported, skipped }) => {
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kimported ${imported}, skipped ${skipped}`);
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (summary.files.length === 0) throw new Error(`${positionals[0]} holds no .parquet, .jsonl or .json data files`);
    console.log(`imported ${summary.imported} traces, skipped ${summary.skipped} already in the store, from ${summary.files.length} files`);
    return 0;
  } finally {
    await store.close();
  }
}
