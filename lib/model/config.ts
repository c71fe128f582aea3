/**
 * gpt-oss model configuration: a typed record read from a Hugging Face `config.json`
 * (spec §1.1). Every runtime component takes this record, never the raw JSON.
 */
import { createHash } from 'node:crypto';
import { CheckpointError } from './errors';

export type LayerType = 'sliding_attention' | 'full_attention';

export interface YarnConfig {
  factor: number;
  betaFast: number;
  betaSlow: number;
  originalMaxPositionEmbeddings: number;
  truncate: boolean;
}

export interface GptOssConfig {
  vocabSize: number;
  hiddenSize: number;
  /** Per-expert intermediate width I; gate_up has 2I interleaved outputs. */
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Read explicitly: head_dim is independent of hidden/heads (2880/64 != 64). */
  headDim: number;
  numExperts: number;
  expertsPerToken: number;
  slidingWindow: number;
  layerTypes: LayerType[];
  ropeTheta: number;
  yarn: YarnConfig;
  rmsNormEps: number;
  swigluLimit: number;
  maxPositionEmbeddings: number;
  eosTokenIds: number[];
}

/** The clamped GLU's alpha is hard-coded in every reference implementation (spec §1.1). */
export const SWIGLU_ALPHA = 1.702;
/** MXFP4 block: 32 E2M1 values share one E8M0 scale (spec §3). */
export const MXFP4_BLOCK = 32;

function num(raw: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CheckpointError(`config key "${key}" must be a number (got ${JSON.stringify(value)})`, { file });
  }
  return value;
}

function positiveInt(raw: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const value = num(raw, key, file, fallback);
  if (!Number.isInteger(value) || value <= 0) {
    throw new CheckpointError(`config key "${key}" must be a positive integer (got ${value})`, { file });
  }
  return value;
}

/** Parses and validates an HF gpt-oss config.json object. Throws CheckpointError naming the file. */
export function parseConfig(raw: unknown, file = 'config.json'): GptOssConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CheckpointError('config must be a JSON object', { file });
  }
  const json = raw as Record<string, unknown>;
  const modelType = json.model_type;
  if (modelType !== 'gpt_oss') {
    throw new CheckpointError(`model_type must be "gpt_oss" (got ${JSON.stringify(modelType)})`, { file });
  }
  const numLayers = positiveInt(json, 'num_hidden_layers', file);
  const numHeads = positiveInt(json, 'num_attention_heads', file);
  const numKvHeads = positiveInt(json, 'num_key_value_heads', file);
  const hiddenSize = positiveInt(json, 'hidden_size', file);
  const intermediateSize = positiveInt(json, 'intermediate_size', file);
  const headDim = positiveInt(json, 'head_dim', file);
  const numExperts = positiveInt(json, 'num_local_experts', file, json.num_experts as number | undefined);
  const expertsPerToken = positiveInt(json, 'num_experts_per_tok', file, json.experts_per_token as number | undefined);
  const slidingWindow = positiveInt(json, 'sliding_window', file);

  if (numHeads % numKvHeads !== 0) {
    throw new CheckpointError(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`, { file });
  }
  if (headDim % 2 !== 0) throw new CheckpointError(`head_dim (${headDim}) must be even for rotary embedding`, { file });
  if (expertsPerToken > numExperts) {
    throw new CheckpointError(`num_experts_per_tok (${expertsPerToken}) exceeds num_local_experts (${numExperts})`, { file });
  }
  for (const [key, value] of [['hidden_size', hiddenSize], ['intermediate_size', intermediateSize]] as const) {
    if (value % MXFP4_BLOCK !== 0) {
      throw new CheckpointError(`${key} (${value}) must be a multiple of ${MXFP4_BLOCK} for MXFP4 experts`, { file });
    }
  }

  let layerTypes: LayerType[];
  if (json.layer_types === undefined) {
    layerTypes = Array.from({ length: numLayers }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
  } else {
    const types = json.layer_types;
    if (!Array.isArray(types) || types.length !== numLayers || types.some((t) => t !== 'sliding_attention' && t !== 'full_attention')) {
      throw new CheckpointError(`layer_types must list ${numLayers} entries of "sliding_attention" or "full_attention"`, { file });
    }
    layerTypes = types as LayerType[];
  }

  const scaling = (json.rope_scaling ?? (json.rope_parameters as Record<string, unknown> | undefined)) as Record<string, unknown> | null | undefined;
  if (!scaling || scaling.rope_type !== 'yarn') {
    throw new CheckpointError('rope_scaling must be a yarn configuration (rope_type "yarn")', { file });
  }
  const yarn: YarnConfig = {
    factor: num(scaling, 'factor', file),
    betaFast: num(scaling, 'beta_fast', file, 32),
    betaSlow: num(scaling, 'beta_slow', file, 1),
    originalMaxPositionEmbeddings: positiveInt(scaling, 'original_max_position_embeddings', file, json.initial_context_length as number | undefined),
    truncate: scaling.truncate === true,
  };
  const ropeTheta = num(json, 'rope_theta', file, (json.rope_parameters as Record<string, unknown> | undefined)?.rope_theta as number | undefined);

  const eos = json.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [200002];

  const quant = json.quantization_config as Record<string, unknown> | undefined;
  if (quant && quant.quant_method !== 'mxfp4') {
    throw new CheckpointError(`unsupported quantization_config.quant_method ${JSON.stringify(quant.quant_method)} (only mxfp4)`, { file });
  }
  if (json.tie_word_embeddings === true) {
    throw new CheckpointError('tie_word_embeddings=true is not a gpt-oss checkpoint (lm_head is separate)', { file });
  }

  return {
    vocabSize: positiveInt(json, 'vocab_size', file),
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    numExperts,
    expertsPerToken,
    slidingWindow,
    layerTypes,
    ropeTheta,
    yarn,
    rmsNormEps: num(json, 'rms_norm_eps', file, 1e-5),
    swigluLimit: num(json, 'swiglu_limit', file, 7),
    maxPositionEmbeddings: positiveInt(json, 'max_position_embeddings', file),
    eosTokenIds,
  };
}

/** Inverse of parseConfig: the HF config.json object for a config (used by the checkpoint generator). */
export function toHfConfigJson(config: GptOssConfig): Record<string, unknown> {
  return {
    architectures: ['GptOssForCausalLM'],
    model_type: 'gpt_oss',
    attention_bias: true,
    attention_dropout: 0.0,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
    pad_token_id: 199999,
    experts_per_token: config.expertsPerToken,
    head_dim: config.headDim,
    hidden_act: 'silu',
    hidden_size: config.hiddenSize,
    initial_context_length: config.yarn.originalMaxPositionEmbeddings,
    initializer_range: 0.02,
    intermediate_size: config.intermediateSize,
    layer_types: config.layerTypes,
    max_position_embeddings: config.maxPositionEmbeddings,
    num_attention_heads: config.numHeads,
    num_experts_per_tok: config.expertsPerToken,
    num_hidden_layers: config.numLayers,
    num_key_value_heads: config.numKvHeads,
    num_local_experts: config.numExperts,
    output_router_logits: false,
    quantization_config: {
      quant_method: 'mxfp4',
      modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'],
    },
    rms_norm_eps: config.rmsNormEps,
    rope_scaling: {
      rope_type: 'yarn',
      factor: config.yarn.factor,
      beta_fast: config.yarn.betaFast,
      beta_slow: config.yarn.betaSlow,
      original_max_position_embeddings: config.yarn.originalMaxPositionEmbeddings,
      truncate: config.yarn.truncate,
    },
    rope_theta: config.ropeTheta,
    router_aux_loss_coef: 0.9,
    sliding_window: config.slidingWindow,
    swiglu_limit: config.swigluLimit,
    tie_word_embeddings: false,
    transformers_version: '4.55.0',
    use_cache: true,
    vocab_size: config.vocabSize,
  };
}

/** Stable identity of a configuration: sha256 of its canonical JSON (sorted keys). */
export function configHash(config: GptOssConfig): string {
  const canonical = JSON.stringify(config, Object.keys(config).sort());
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

const sharedShape = {
  vocabSize: 201088,
  hiddenSize: 2880,
  intermediateSize: 2880,
  numHeads: 64,
  numKvHeads: 8,
  headDim: 64,
  expertsPerToken: 4,
  slidingWindow: 128,
  ropeTheta: 150000,
  yarn: { factor: 32, betaFast: 32, betaSlow: 1, originalMaxPositionEmbeddings: 4096, truncate: false },
  rmsNormEps: 1e-5,
  swigluLimit: 7,
  maxPositionEmbeddings: 131072,
  eosTokenIds: [200002],
} as const;

function alternatingLayers(n: number): LayerType[] {
  return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
}

/** The published shapes (spec §1.1), for sizing, benchmarks and synthetic checkpoints. */
export const GPT_OSS_20B: GptOssConfig = {
  ...sharedShape,
  yarn: { ...sharedShape.yarn },
  eosTokenIds: [...sharedShape.eosTokenIds],
  numLayers: 24,
  numExperts: 32,
  layerTypes: alternatingLayers(24),
};

export const GPT_OSS_120B: GptOssConfig = {
  ...GPT_OSS_20B,
  yarn: { ...sharedShape.yarn },
  numLayers: 36,
  numExperts: 128,
  layerTypes: alternatingLayers(36),
};

/** Generated checkpoint presets: real vocabulary; tiny and small shrink everything else. */
export const TINY_PRESETS = {
  /** For tests and the demo: head_dim*heads (128) != hidden (64) on purpose. */
  tiny: {
    ...GPT_OSS_20B,
    yarn: { ...sharedShape.yarn },
    hiddenSize: 64,
    intermediateSize: 64,
    numLayers: 4,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 32,
    numExperts: 8,
    expertsPerToken: 4,
    layerTypes: alternatingLayers(4),
  },
  /** For benchmarks. */
  small: {
    ...GPT_OSS_20B,
    yarn: { ...sharedShape.yarn },
    hiddenSize: 512,
    intermediateSize: 512,
    numLayers: 8,
    numHeads: 8,
    numKvHeads: 2,
    headDim: 64,
    numExperts: 32,
    expertsPerToken: 4,
    layerTypes: alternatingLayers(8),
  },
  /** gpt-oss-20b's real dimensions and layout with random weights (~13 GB): memory and speed at full size. */
  '20b-shape': {
    ...GPT_OSS_20B,
    yarn: { ...sharedShape.yarn },
    eosTokenIds: [...sharedShape.eosTokenIds],
    layerTypes: alternatingLayers(24),
  },
} satisfies Record<string, GptOssConfig>;

export type TinyPreset = keyof typeof TINY_PRESETS;
