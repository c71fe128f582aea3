/**
 * Writes a deterministic, randomly initialised gpt-oss checkpoint in the real Hugging Face
 * layout (config.json, generation_config.json, model.safetensors.index.json, shards named
 * model-0000K-of-0000N.safetensors with N the zero-based last index, MXFP4 experts, BF16 rest).
 *
 * Every tensor has its own PRNG stream, seeded from (seed, tensor name), so values do not
 * depend on sharding or write order. Tensors are generated and written in chunks, never the
 * whole model at once. Init scales keep activations O(1) and behaviour non-degenerate: router
 * logits spread, attention not uniform, sinks ranging from -2 to 4 across heads, logits not flat.
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodeBf16Into } from './bf16';
import { configHash, parseConfig, toHfConfigJson, TINY_PRESETS, type GptOssConfig, type TinyPreset } from './config';
import { CONFIG_FILE, INDEX_FILE, MARKER_FILE, openCheckpoint, type GeneratedMarker } from './checkpoint';
import { encodeMxfp4 } from './mxfp4';
import { DTYPE_BYTES, elementCount, SafetensorsWriter, type SafetensorsDtype, type TensorDeclaration } from './safetensors';
import { expectedTensors, tensorNames, type ExpectedTensor } from './weights';

export const GENERATION_CONFIG = {
  bos_token_id: 199998,
  eos_token_id: [200002, 199999, 200012],
  pad_token_id: 199999,
  do_sample: true,
  transformers_version: '4.55.0',
} as const;

/** Token ids from here on are reserved (spec §8): their lm_head rows are zero so sampling rarely picks them. */
export const FIRST_RESERVED_TOKEN = 200013;
const CHUNK_ELEMENTS = 1 << 18;

export interface GenerateOptions {
  seed?: number;
  /** How many shard files to aim for (at least 2 by default); empty shards are not written. */
  shards?: number;
}

/** mulberry32: a small, fast, seedable PRNG giving uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of the tensor name mixed with the seed: the tensor's own PRNG seed. */
function tensorSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b9);
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** The value of element `index` given one fresh uniform draw in [0, 1). */
type ElementInit = (index: number, uniform: number) => number;

const SQRT3 = Math.sqrt(3);
/** Uniform with the given mean and standard deviation. */
const uniformInit = (std: number, mean = 0): ElementInit => (_index, u) => mean + std * SQRT3 * (2 * u - 1);

/** How each tensor is initialised. */
function initFor(config: GptOssConfig, name: string): ElementInit {
  const { hiddenSize: H, intermediateSize: I, numHeads, headDim } = config;
  if (name === tensorNames.embed) return uniformInit(1);
  if (name === tensorNames.finalNorm) return uniformInit(0.1, 1);
  if (name === tensorNames.lmHead) {
    const weight = uniformInit(3 / Math.sqrt(H));
    return (index, u) => (Math.floor(index / H) >= FIRST_RESERVED_TOKEN ? 0 : weight(index, u));
  }
  const suffix = name.replace(/^model\.layers\.\d+\./, '');
  switch (suffix) {
    case 'input_layernorm.weight':
    case 'post_attention_layernorm.weight':
      return uniformInit(0.1, 1);
    case 'self_attn.q_proj.weight':
    case 'self_attn.k_proj.weight':
      return uniformInit(1.2 / Math.sqrt(H));
    case 'self_attn.v_proj.weight':
      return uniformInit(1 / Math.sqrt(H));
    case 'self_attn.o_proj.weight':
      return uniformInit(1 / Math.sqrt(numHeads * headDim));
    case 'self_attn.q_proj.bias':
    case 'self_attn.k_proj.bias':
    case 'mlp.experts.gate_up_proj_bias':
      return uniformInit(0.2);
    case 'self_attn.v_proj.bias':
    case 'self_attn.o_proj.bias':
    case 'mlp.experts.down_proj_bias':
      return uniformInit(0.05);
    case 'self_attn.sinks':
      // A ramp over heads: the last heads park a visible share of attention on the sink.
      return (head, u) => -2 + (6 * head) / Math.max(1, numHeads - 1) + (u - 0.5);
    case 'mlp.router.weight':
      return uniformInit(2 / Math.sqrt(H));
    case 'mlp.router.bias':
      return uniformInit(0.5);
    case 'mlp.experts.gate_up_proj_blocks':
      return uniformInit(1 / Math.sqrt(H));
    case 'mlp.experts.down_proj_blocks':
      return uniformInit(1 / Math.sqrt(I));
    default:
      throw new Error(`no initialiser for tensor ${name}`);
  }
}

/** Element values of a tensor, produced in order, `count` at a time. */
function valueStream(config: GptOssConfig, seed: number, name: string): (count: number) => Float32Array {
  const init = initFor(config, name);
  const uniform = mulberry32(tensorSeed(seed, name));
  let next = 0;
  return (count) => {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++, next++) values[i] = init(next, uniform());
    return values;
  };
}

/** The float32 values the generator draws for a dense tensor, before BF16 rounding. */
export function generatedDenseValues(config: GptOssConfig, seed: number, name: string): Float32Array {
  const tensor = expectedTensors(config).find((t) => t.name === name && t.kind === 'dense');
  if (!tensor) throw new Error(`${name} is not a dense tensor of this config`);
  return valueStream(config, seed, name)(elementCount(tensor.shape));
}

/** Experts of one MXFP4 tensor, in order: each expert's [R, C] float values before quantization. */
function expertStream(config: GptOssConfig, seed: number, blocksName: string, shape: number[]): () => Float32Array {
  const [, rows, groups] = shape;
  const next = valueStream(config, seed, blocksName);
  return () => next(rows * groups * 32);
}

/** The float32 values the generator draws for one expert ([R, C]) before MXFP4 quantization. */
export function generatedExpertValues(config: GptOssConfig, seed: number, layer: number, which: 'gate_up' | 'down', expert: number): Float32Array {
  const names = tensorNames.layer(layer);
  const blocksName = which === 'gate_up' ? names.gateUpBlocks : names.downBlocks;
  const tensor = expectedTensors(config).find((t) => t.name === blocksName);
  if (!tensor) throw new RangeError(`layer ${layer} is outside [0, ${config.numLayers})`);
  const nextExpert = expertStream(config, seed, blocksName, tensor.shape);
  for (let e = 0; e < expert; e++) nextExpert();
  return nextExpert();
}

function declaration(tensor: ExpectedTensor): TensorDeclaration {
  return { name: tensor.name, dtype: tensor.dtypes[0] as SafetensorsDtype, shape: tensor.shape };
}

function byteSize(tensor: TensorDeclaration): number {
  return elementCount(tensor.shape) * DTYPE_BYTES[tensor.dtype];
}

/** Splits tensors (in order) into about `shards` groups of similar byte size, dropping empty ones. */
export function planShards(tensors: readonly TensorDeclaration[], shards: number): TensorDeclaration[][] {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer (got ${shards})`);
  const total = tensors.reduce((sum, t) => sum + byteSize(t), 0);
  const groups: TensorDeclaration[][] = Array.from({ length: shards }, () => []);
  let start = 0;
  for (const tensor of tensors) {
    const middle = start + byteSize(tensor) / 2;
    groups[Math.min(shards - 1, Math.floor((middle / total) * shards))].push(tensor);
    start += byteSize(tensor);
  }
  return groups.filter((group) => group.length > 0);
}

/** HF shard naming: the "of" number is the zero-based index of the last shard. */
export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index)}-of-${pad(count - 1)}.safetensors`;
}

const GENERATED_FILE = /^(config\.json|generation_config\.json|cotscope\.json|model(-\d+-of-\d+)?\.safetensors(\.index\.json)?)$/;

/** Makes `dir` ready: creates it, or clears an earlier generated checkpoint; refuses anything else. */
async function prepareFolder(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  const present = await fs.promises.readdir(dir);
  if (present.length === 0) return;
  if (!present.includes(MARKER_FILE)) {
    throw new Error(`refusing to write into ${dir}: it is not empty and holds no ${MARKER_FILE} from an earlier generation`);
  }
  for (const file of present.filter((f) => GENERATED_FILE.test(f))) await fs.promises.rm(path.join(dir, file));
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.promises.writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes one tensor's bytes in chunks. MXFP4 scales computed while writing blocks are kept in `pendingScales`. */
async function writeTensor(writer: SafetensorsWriter, config: GptOssConfig, seed: number, tensor: ExpectedTensor, pendingScales: Map<string, Uint8Array>): Promise<void> {
  if (tensor.kind === 'dense') {
    const total = elementCount(tensor.shape);
    const next = valueStream(config, seed, tensor.name);
    for (let done = 0; done < total; done += CHUNK_ELEMENTS) {
      const values = next(Math.min(CHUNK_ELEMENTS, total - done));
      const bytes = new Uint8Array(values.length * 2);
      encodeBf16Into(values, bytes);
      await writer.write(tensor.name, bytes);
    }
    return;
  }
  if (tensor.kind === 'mxfp4_blocks') {
    const nextExpert = expertStream(config, seed, tensor.name, tensor.shape);
    const scalesName = tensor.name.replace(/_blocks$/, '_scales');
    const scales = new Uint8Array(elementCount(tensor.shape) / 16);
    const scalesPerExpert = scales.length / config.numExperts;
    for (let e = 0; e < config.numExperts; e++) {
      const encoded = encodeMxfp4(nextExpert());
      scales.set(encoded.scales, e * scalesPerExpert);
      await writer.write(tensor.name, encoded.blocks);
    }
    pendingScales.set(scalesName, scales);
    return;
  }
  const scales = pendingScales.get(tensor.name);
  if (!scales) throw new Error(`${tensor.name} is written before its blocks`);
  pendingScales.delete(tensor.name);
  await writer.write(tensor.name, scales);
}

function resolvePreset(preset: TinyPreset | GptOssConfig): { config: GptOssConfig; presetName: string } {
  // A custom config goes through the same validation a checkpoint's config.json would.
  if (typeof preset !== 'string') return { config: parseConfig(toHfConfigJson(preset), 'custom generator config'), presetName: 'custom' };
  if (!Object.hasOwn(TINY_PRESETS, preset)) throw new Error(`unknown preset ${JSON.stringify(preset)} (expected ${Object.keys(TINY_PRESETS).join(' or ')})`);
  return { config: TINY_PRESETS[preset], presetName: preset };
}

/** The marker a complete generation with these settings leaves behind. */
export function expectedMarker(preset: TinyPreset | GptOssConfig, seed = 0): GeneratedMarker {
  const { config, presetName } = resolvePreset(preset);
  return { generator: 'cotscope', preset: presetName, seed, configHash: configHash(config), complete: true };
}

/** Writes a generated checkpoint into `dir` (created if needed; an earlier generated one is replaced). */
export async function writeGeneratedCheckpoint(dir: string, preset: TinyPreset | GptOssConfig, options: GenerateOptions = {}): Promise<void> {
  const { seed = 0, shards = 2 } = options;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer (got ${seed})`);
  const { config } = resolvePreset(preset);
  const marker = expectedMarker(preset, seed);
  const tensors = expectedTensors(config);
  const plan = planShards(tensors.map(declaration), shards);

  await prepareFolder(dir);
  await writeJson(path.join(dir, MARKER_FILE), { ...marker, complete: false });
  await writeJson(path.join(dir, CONFIG_FILE), toHfConfigJson(config));
  await writeJson(path.join(dir, 'generation_config.json'), GENERATION_CONFIG);

  const byName = new Map(tensors.map((t) => [t.name, t]));
  const weightMap: Record<string, string> = {};
  const pendingScales = new Map<string, Uint8Array>();
  for (const [index, group] of plan.entries()) {
    const fileName = shardFileName(index, plan.length);
    const writer = await SafetensorsWriter.create(path.join(dir, fileName), group);
    try {
      for (const declared of group) {
        await writeTensor(writer, config, seed, byName.get(declared.name)!, pendingScales);
        weightMap[declared.name] = fileName;
      }
    } catch (error) {
      await writer.abandon();
      throw error;
    }
    await writer.finish();
  }
  const totalSize = tensors.reduce((sum, t) => sum + byteSize(declaration(t)), 0);
  await writeJson(path.join(dir, INDEX_FILE), { metadata: { total_size: totalSize }, weight_map: weightMap });
  await writeJson(path.join(dir, MARKER_FILE), marker);
}

/** True when `dir` holds a complete, valid checkpoint generated with exactly these settings. */
export function holdsGeneratedCheckpoint(dir: string, preset: TinyPreset | GptOssConfig, seed = 0): boolean {
  const wanted = expectedMarker(preset, seed);
  let found: Partial<GeneratedMarker>;
  try {
    found = JSON.parse(fs.readFileSync(path.join(dir, MARKER_FILE), 'utf8')) as Partial<GeneratedMarker>;
  } catch {
    return false;
  }
  const sameSettings = (Object.keys(wanted) as (keyof GeneratedMarker)[]).every((key) => found[key] === wanted[key]);
  if (!sameSettings) return false;
  try {
    openCheckpoint(dir).close();
    return true;
  } catch {
    return false;
  }
}

/** Generates into `dir` unless it already holds the same generated checkpoint. Says whether it wrote. */
export async function ensureGeneratedCheckpoint(dir: string, preset: TinyPreset | GptOssConfig, options: GenerateOptions = {}): Promise<{ written: boolean }> {
  if (holdsGeneratedCheckpoint(dir, preset, options.seed ?? 0)) return { written: false };
  await writeGeneratedCheckpoint(dir, preset, options);
  return { written: true };
}
