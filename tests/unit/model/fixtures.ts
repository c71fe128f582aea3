/** Helpers for the model tests: a micro config, temp folders, and shard surgery. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TINY_PRESETS, type GptOssConfig } from '../../../lib/model/config';
import { INDEX_FILE } from '../../../lib/model/checkpoint';
import { SafetensorsFile, SafetensorsWriter, type TensorDeclaration } from '../../../lib/model/safetensors';

/** The tiny preset with a 512-token vocabulary and 2 layers: kilobytes on disk, for error cases. */
export const MICRO: GptOssConfig = {
  ...TINY_PRESETS.tiny,
  yarn: { ...TINY_PRESETS.tiny.yarn },
  vocabSize: 512,
  intermediateSize: 32,
  numLayers: 2,
  numExperts: 4,
  expertsPerToken: 2,
  layerTypes: ['sliding_attention', 'full_attention'],
};

export function makeTempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cotscope-${label}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function readIndex(dir: string): { metadata: { total_size: number }; weight_map: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8'));
}

export function writeIndex(dir: string, index: unknown): void {
  fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify(index));
}

/** The shard file (full path) the index assigns a tensor to. */
export function shardHolding(dir: string, tensor: string): string {
  return path.join(dir, readIndex(dir).weight_map[tensor]);
}

export interface StoredTensor {
  declaration: TensorDeclaration;
  bytes: Uint8Array;
}

/** Rewrites a shard after `edit` changes its tensor list (declarations and/or bytes). */
export async function rewriteShard(file: string, edit: (tensors: StoredTensor[]) => StoredTensor[]): Promise<void> {
  const shard = SafetensorsFile.open(file);
  const stored = [...shard.tensors.values()].map((entry) => ({
    declaration: { name: entry.name, dtype: entry.dtype, shape: entry.shape },
    bytes: shard.read(entry.name),
  }));
  shard.close();
  const edited = edit(stored);
  const writer = await SafetensorsWriter.create(file, edited.map((t) => t.declaration));
  for (const tensor of edited) await writer.write(tensor.declaration.name, tensor.bytes);
  await writer.finish();
}
