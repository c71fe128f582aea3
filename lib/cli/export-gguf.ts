/** `cotscope export-gguf`: write a llama.cpp GGUF from an HF-layout gpt-oss checkpoint. */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openCheckpoint } from '../model/checkpoint';
import { EXPERT_ENCODINGS, exportGguf, type ExpertEncoding } from '../model/gguf';
import { harmonyVocabulary } from '../model/gguf-tokenizer';

const HELP = `usage: cotscope export-gguf --model DIR --out FILE [--experts f32|f16|mxfp4]

  --model DIR        HF-layout gpt-oss checkpoint folder
  --out FILE         GGUF file to write (its folder must exist; an existing file is replaced)
  --experts KIND     expert weights: mxfp4 (the checkpoint's own bytes, repacked; default),
                     f16 or f32 (decoded; f32 is the exact one for cross-checks)
  --name TEXT        general.name in the file (default: the folder name)

Dense tensors are written as F32. The file loads in llama.cpp (arch gpt-oss) with the
o200k_harmony tokenizer (tokens, merges, special tokens as control tokens).`;

function isExpertEncoding(value: string): value is ExpertEncoding {
  return (EXPERT_ENCODINGS as readonly string[]).includes(value);
}

export async function runExportGgufCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      experts: { type: 'string', default: 'mxfp4' },
      name: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const problems: string[] = [];
  if (!values.model) problems.push('--model DIR is required');
  if (!values.out) problems.push('--out FILE is required');
  if (!isExpertEncoding(values.experts)) problems.push(`--experts must be one of ${EXPERT_ENCODINGS.join(', ')} (got "${values.experts}")`);
  if (values.out && !fs.existsSync(path.dirname(path.resolve(values.out)))) problems.push(`--out folder ${path.dirname(path.resolve(values.out))} does not exist`);
  if (problems.length > 0 || !values.model || !values.out || !isExpertEncoding(values.experts)) {
    console.error(`${problems.join('\n')}\n\n${HELP}`);
    return 2;
  }

  const started = performance.now();
  const checkpoint = openCheckpoint(values.model);
  try {
    const result = exportGguf(checkpoint, harmonyVocabulary(), path.resolve(values.out), { experts: values.experts, name: values.name });
    const seconds = (performance.now() - started) / 1000;
    console.log(`wrote ${result.file}: ${result.tensorCount} tensors, ${(result.bytes / 2 ** 20).toFixed(1)} MiB, experts ${result.experts}, ${seconds.toFixed(1)} s`);
    return 0;
  } finally {
    checkpoint.close();
  }
}
