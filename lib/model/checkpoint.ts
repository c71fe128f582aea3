/**
 * Opens a Hugging Face gpt-oss checkpoint folder (config.json + safetensors shards through
 * model.safetensors.index.json, or one model.safetensors) and validates every tensor's presence,
 * dtype and shape against the config before anything reads weights. Tensors are then read one
 * at a time from disk.
 *
 * Unknown extra tensors are an error: a gpt-oss checkpoint holds exactly the tensors of spec
 * §2.2, so an extra name means a different format (for example unquantized experts) that this
 * reader would otherwise silently ignore.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeBf16, decodeF16, decodeF32 } from './bf16';
import { parseConfig, MXFP4_BLOCK, type GptOssConfig } from './config';
import { CheckpointError } from './errors';
import { MXFP4_BYTES_PER_BLOCK } from './mxfp4';
import { SafetensorsFile, type TensorEntry } from './safetensors';
import { expectedTensors, tensorNames, type Mxfp4Tensor, type WeightSource } from './weights';

export const CONFIG_FILE = 'config.json';
export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
export const MARKER_FILE = 'cotscope.json';

/** The marker the generator leaves in a folder it wrote (lib/model/generate.ts). */
export interface GeneratedMarker {
  generator: 'cotscope';
  preset: string;
  seed: number;
  configHash: string;
  /** False while the generator is still writing (an interrupted generation stays false). */
  complete: boolean;
}

interface Problem {
  message: string;
  file: string;
  tensor?: string;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CheckpointError(`cannot read: ${(error as Error).message}`, { file });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`not valid JSON (${(error as Error).message})`, { file });
  }
}

/** Reads the index's weight_map: tensor name -> shard path, every shard inside the folder and present. */
function readIndex(dir: string, indexFile: string): Map<string, string> {
  const index = readJson(indexFile) as { weight_map?: unknown } | null;
  const weightMap = index?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError('index has no weight_map object', { file: indexFile });
  }
  const shardOf = new Map<string, string>();
  for (const [tensor, shardName] of Object.entries(weightMap)) {
    if (typeof shardName !== 'string') throw new CheckpointError('weight_map entry is not a file name', { file: indexFile, tensor });
    const shard = path.resolve(dir, shardName);
    const relative = path.relative(dir, shard);
    if (relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
      throw new CheckpointError(`weight_map names a file outside the checkpoint folder: ${shardName}`, { file: indexFile, tensor });
    }
    if (!fs.existsSync(shard)) {
      throw new CheckpointError(`index names a shard that does not exist: ${shardName}`, { file: indexFile, tensor });
    }
    shardOf.set(tensor, shard);
  }
  return shardOf;
}

function openAll(files: Iterable<string>): Map<string, SafetensorsFile> {
  const opened = new Map<string, SafetensorsFile>();
  try {
    for (const file of files) if (!opened.has(file)) opened.set(file, SafetensorsFile.open(file));
  } catch (error) {
    for (const shard of opened.values()) shard.close();
    throw error;
  }
  return opened;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

/** Every way the tensors found differ from what the config needs, in checkpoint order. */
function findProblems(config: GptOssConfig, entries: ReadonlyMap<string, TensorEntry>, listing: string): Problem[] {
  const problems: Problem[] = [];
  const expected = expectedTensors(config);
  const expectedNames = new Set(expected.map((t) => t.name));
  for (const want of expected) {
    const found = entries.get(want.name);
    if (!found) {
      problems.push({ message: 'missing tensor', file: listing, tensor: want.name });
    } else if (!want.dtypes.includes(found.dtype)) {
      problems.push({ message: `wrong dtype ${found.dtype} (expected ${want.dtypes.join(' or ')})`, file: found.file, tensor: want.name });
    } else if (!sameShape(found.shape, want.shape)) {
      problems.push({ message: `misshapen tensor: shape [${found.shape}] but the config needs [${want.shape}]`, file: found.file, tensor: want.name });
    }
  }
  for (const found of entries.values()) {
    if (!expectedNames.has(found.name)) {
      problems.push({ message: 'unexpected tensor: not part of a gpt-oss checkpoint with this config', file: found.file, tensor: found.name });
    }
  }
  return problems;
}

function throwFirst(problems: Problem[]): void {
  if (problems.length === 0) return;
  const [first, ...rest] = problems;
  const more = rest.length === 0 ? '' : `; ${rest.length} more problem(s), e.g. ${rest.slice(0, 3).map((p) => `${p.message} ${p.tensor ?? ''}`.trim()).join('; ')}`;
  throw new CheckpointError(`${first.message}${more}`, { file: first.file, tensor: first.tensor });
}

function readMarker(dir: string): GeneratedMarker | null {
  const file = path.join(dir, MARKER_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    const marker = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<GeneratedMarker>;
    return marker.generator === 'cotscope' ? (marker as GeneratedMarker) : null;
  } catch {
    return null;
  }
}

/** A validated, open checkpoint. Reads tensors from disk on each call; close() releases the files. */
export class Checkpoint implements WeightSource {
  /** The folder's name, e.g. "tiny" or "gpt-oss-20b". */
  readonly name: string;
  /** Set when cotscope generated these weights (a tiny random model, not a trained one). */
  readonly generated: GeneratedMarker | null;

  constructor(
    readonly dir: string,
    readonly config: GptOssConfig,
    private readonly shards: ReadonlyMap<string, SafetensorsFile>,
    private readonly entries: ReadonlyMap<string, TensorEntry>,
  ) {
    this.name = path.basename(dir);
    this.generated = readMarker(dir);
  }

  listTensors(): TensorEntry[] {
    return [...this.entries.values()];
  }

  entry(name: string): TensorEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new CheckpointError('no such tensor in this checkpoint', { file: this.dir, tensor: name });
    return entry;
  }

  /** Raw little-endian bytes of one tensor (or a byte range of it), straight from its shard. */
  raw(name: string, start = 0, length?: number): Uint8Array {
    const entry = this.entry(name);
    const shard = this.shards.get(entry.file);
    if (!shard) throw new CheckpointError('checkpoint is closed', { file: entry.file, tensor: name });
    return shard.read(name, start, length);
  }

  dense(name: string): Float32Array {
    const entry = this.entry(name);
    const bytes = this.raw(name);
    switch (entry.dtype) {
      case 'BF16':
        return decodeBf16(bytes);
      case 'F16':
        return decodeF16(bytes);
      case 'F32':
        return decodeF32(bytes);
      default:
        throw new CheckpointError(`tensor is ${entry.dtype}, not a dense float tensor`, { file: entry.file, tensor: name });
    }
  }

  private expertTensorNames(layer: number, which: 'gate_up' | 'down'): { blocks: string; scales: string; rows: number; cols: number } {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.numLayers) {
      throw new RangeError(`layer ${layer} is outside [0, ${this.config.numLayers})`);
    }
    const names = tensorNames.layer(layer);
    const { hiddenSize, intermediateSize } = this.config;
    return which === 'gate_up'
      ? { blocks: names.gateUpBlocks, scales: names.gateUpScales, rows: 2 * intermediateSize, cols: hiddenSize }
      : { blocks: names.downBlocks, scales: names.downScales, rows: hiddenSize, cols: intermediateSize };
  }

  mxfp4(layer: number, which: 'gate_up' | 'down'): Mxfp4Tensor {
    const { blocks, scales, rows, cols } = this.expertTensorNames(layer, which);
    return { blocks: this.raw(blocks), scales: this.raw(scales), shape: [this.config.numExperts, rows, cols] };
  }

  /** One expert's MXFP4 bytes only (shape [1, R, C]): for streaming experts without the whole layer. */
  mxfp4Expert(layer: number, which: 'gate_up' | 'down', expert: number): Mxfp4Tensor {
    if (!Number.isInteger(expert) || expert < 0 || expert >= this.config.numExperts) {
      throw new RangeError(`expert ${expert} is outside [0, ${this.config.numExperts})`);
    }
    const { blocks, scales, rows, cols } = this.expertTensorNames(layer, which);
    const scalesPerExpert = (rows * cols) / MXFP4_BLOCK;
    const blockBytesPerExpert = scalesPerExpert * MXFP4_BYTES_PER_BLOCK;
    return {
      blocks: this.raw(blocks, expert * blockBytesPerExpert, blockBytesPerExpert),
      scales: this.raw(scales, expert * scalesPerExpert, scalesPerExpert),
      shape: [1, rows, cols],
    };
  }

  close(): void {
    for (const shard of this.shards.values()) shard.close();
  }
}

/**
 * Tensor name -> entry, following the index when there is one; also the file that lists them.
 * `mismatches` are index entries whose shard lacks the tensor; `unlisted` are shard tensors the index omits.
 */
function locateTensors(dir: string): {
  shards: Map<string, SafetensorsFile>;
  entries: Map<string, TensorEntry>;
  listing: string;
  mismatches: Problem[];
  unlisted: Problem[];
} {
  const indexFile = path.join(dir, INDEX_FILE);
  const singleFile = path.join(dir, SINGLE_FILE);
  const entries = new Map<string, TensorEntry>();
  const mismatches: Problem[] = [];
  const unlisted: Problem[] = [];
  if (fs.existsSync(indexFile)) {
    const shardOf = readIndex(dir, indexFile);
    const shards = openAll(shardOf.values());
    for (const [tensor, file] of shardOf) {
      const entry = shards.get(file)!.tensors.get(tensor);
      if (entry) entries.set(tensor, entry);
      else mismatches.push({ message: `index maps the tensor to ${path.basename(file)}, which does not hold it`, file, tensor });
    }
    for (const shard of shards.values()) {
      for (const name of shard.tensors.keys()) {
        if (!shardOf.has(name)) unlisted.push({ message: `tensor is in a shard but not in ${INDEX_FILE}`, file: shard.path, tensor: name });
      }
    }
    return { shards, entries, listing: indexFile, mismatches, unlisted };
  }
  if (fs.existsSync(singleFile)) {
    const shards = openAll([singleFile]);
    for (const [name, entry] of shards.get(singleFile)!.tensors) entries.set(name, entry);
    return { shards, entries, listing: singleFile, mismatches, unlisted };
  }
  throw new CheckpointError(`no ${INDEX_FILE} or ${SINGLE_FILE} in the checkpoint folder`, { file: dir });
}

/** Opens and fully validates a checkpoint folder. Throws CheckpointError naming the file and tensor. */
export function openCheckpoint(dir: string): Checkpoint {
  const folder = path.resolve(dir);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new CheckpointError('checkpoint folder does not exist', { file: folder });
  }
  const configFile = path.join(folder, CONFIG_FILE);
  const config = parseConfig(readJson(configFile), configFile);
  const { shards, entries, listing, mismatches, unlisted } = locateTensors(folder);
  try {
    // The most specific explanation first: a shard lacking what the index promised.
    throwFirst([...mismatches, ...findProblems(config, entries, listing), ...unlisted]);
  } catch (error) {
    for (const shard of shards.values()) shard.close();
    throw error;
  }
  return new Checkpoint(folder, config, shards, entries);
}
