/**
 * The exported GGUF's tokenizer metadata (o200k_harmony tokens and merges, special tokens as
 * control tokens) makes llama.cpp tokenize text exactly as cotscope's tokenizer does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from '../../lib/harmony/tokenizer';
import { openCheckpoint } from '../../lib/model/checkpoint';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { exportGguf } from '../../lib/model/gguf';
import { harmonyVocabulary } from '../../lib/model/gguf-tokenizer';
import { LlamaCppPeer } from './llamacpp-driver';

const SAMPLES = [
  'Hello, world!',
  "  leading spaces, it's DON'T and we'll\n\ttabs\r\nand CRLF",
  'numbers 1 12 123 1234 12345 3.14159 and 1,000,000',
  'Ünïcödé, émigré, naïve; 日本語のテキスト; Ελληνικά; русский; emoji 🙂👍🏽',
  'code: const x = arr.map((v) => v ** 2); // done\n    return x;',
  '<|start|>system<|message|>Reasoning: high<|end|><|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>analysis<|message|>',
  'a<|return|>b<|call|>c<|constrain|>json',
];

let workDir = '';
let peer: LlamaCppPeer;

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-llamacpp-tok-'));
  const checkpointDir = path.join(workDir, 'tiny');
  await writeGeneratedCheckpoint(checkpointDir, 'tiny', { seed: 0 });
  const file = path.join(workDir, 'tiny.gguf');
  const checkpoint = openCheckpoint(checkpointDir);
  try {
    exportGguf(checkpoint, harmonyVocabulary(), file, { experts: 'mxfp4' });
  } finally {
    checkpoint.close();
  }
  peer = await LlamaCppPeer.open(file, { threads: 1, contextSize: 64, exact: false });
});

after(async () => {
  await peer?.dispose();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

for (const text of SAMPLES) {
  test(`llama.cpp tokenizes ${JSON.stringify(text.slice(0, 32))}… exactly as cotscope does`, () => {
    assert.deepEqual(peer.tokenize(text), encode(text, { allowSpecial: true }));
  });
}
