/**
 * gpt-oss checkpoint (HF layout) -> GGUF for llama.cpp's `gpt-oss` architecture, following
 * llama.cpp's own converter (convert_hf_to_gguf.py GptOssModel) and loader (LLM_ARCH_OPENAI_MOE):
 *
 * - gate_up_proj's interleaved rows split into ffn_gate_exps (even rows) and ffn_up_exps (odd),
 *   biases likewise; down_proj -> ffn_down_exps.
 * - sinks -> attn_sinks.weight, router -> ffn_gate_inp, post_attention_layernorm -> post_attention_norm.
 * - MXFP4 experts are repacked to ggml's 17-byte block (scale byte, then byte j = element j in the
 *   low nibble and element j+16 in the high nibble); F32/F16 experts are decoded from MXFP4.
 * - Every dense tensor is written as F32 (exact: the checkpoint holds BF16), or, with
 *   `matrices: 'bf16'`, the embedding, lm_head and attention projections as the checkpoint's own
 *   BF16 bytes (what cotscope's native path reads), so both engines read the same bytes per token.
 */
import path from 'node:path';
import { float32ToF16Bits } from './bf16';
import type { GptOssConfig } from './config';
import { MXFP4_BLOCK } from './config';
import type { Checkpoint } from './checkpoint';
import { CheckpointError } from './errors';
import { decodeMxfp4Expert, MXFP4_BYTES_PER_BLOCK } from './mxfp4';
import { readGgufInfo, writeGguf, type GgmlTypeName, type GgufMetadata, type GgufTensor, type GgufValue } from './gguf-format';
import { tokenizerMetadata, type TokenizerVocabulary } from './gguf-tokenizer';
import { tensorNames } from './weights';

export const GGUF_ARCHITECTURE = 'gpt-oss';
export const EXPERT_ENCODINGS = ['f32', 'f16', 'mxfp4'] as const;
export type ExpertEncoding = (typeof EXPERT_ENCODINGS)[number];
/** How the large dense matrices (embedding, lm_head, attention projections) are written. */
export type MatrixEncoding = 'f32' | 'bf16';

const EXPERT_GGML_TYPE: Record<ExpertEncoding, GgmlTypeName> = { f32: 'F32', f16: 'F16', mxfp4: 'MXFP4' };
/** llama_ftype of the file: ALL_F32, MOSTLY_F16, MOSTLY_MXFP4_MOE. */
const FILE_TYPE: Record<ExpertEncoding, number> = { f32: 0, f16: 1, mxfp4: 38 };
/** Values llama.cpp hard-codes for gpt-oss; a checkpoint with others cannot be expressed in GGUF. */
const LLAMACPP_FIXED = { swigluLimit: 7, betaFast: 32, betaSlow: 1 } as const;

const GGML_MXFP4_BLOCK_BYTES = 1 + MXFP4_BYTES_PER_BLOCK;

// ---------------------------------------------------------------------------------------------
// Pure byte transforms

/** Nibble k of one HF MXFP4 block: byte k>>1, low nibble for even k. */
function hfNibble(blocks: Uint8Array, blockStart: number, k: number): number {
  const byte = blocks[blockStart + (k >> 1)];
  return k & 1 ? byte >> 4 : byte & 0x0f;
}

/**
 * HF MXFP4 blocks (16 bytes each) + scales -> ggml block_mxfp4 (17 bytes each). The scale byte
 * is copied as is: ggml doubles the E2M1 table and halves the scale, which cancels.
 */
export function repackMxfp4(blocks: Uint8Array, scales: Uint8Array): Uint8Array {
  if (blocks.length !== scales.length * MXFP4_BYTES_PER_BLOCK) {
    throw new RangeError(`MXFP4 blocks hold ${blocks.length} bytes but ${scales.length} scales need ${scales.length * MXFP4_BYTES_PER_BLOCK}`);
  }
  const half = MXFP4_BLOCK / 2;
  const out = new Uint8Array(scales.length * GGML_MXFP4_BLOCK_BYTES);
  for (let block = 0; block < scales.length; block++) {
    const src = block * MXFP4_BYTES_PER_BLOCK;
    const dst = block * GGML_MXFP4_BLOCK_BYTES;
    out[dst] = scales[block];
    for (let j = 0; j < half; j++) {
      out[dst + 1 + j] = hfNibble(blocks, src, j) | (hfNibble(blocks, src, j + half) << 4);
    }
  }
  return out;
}

export { float32ToF16Bits };

function encodeF16(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToF16Bits(values[i]);
  return new Uint8Array(out.buffer);
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Rows `parity`, `parity + 2`, ... of a row-major [rows, cols] matrix (gate: parity 0, up: parity 1). */
export function interleavedRows<T extends Float32Array | Uint8Array>(matrix: T, cols: number, parity: 0 | 1): T {
  const rows = matrix.length / cols;
  const out = new (matrix.constructor as new (n: number) => T)((rows / 2) * cols);
  for (let r = parity, o = 0; r < rows; r += 2, o++) out.set(matrix.subarray(r * cols, (r + 1) * cols), o * cols);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Metadata

function checkRepresentable(config: GptOssConfig): void {
  const problems: string[] = [];
  if (config.swigluLimit !== LLAMACPP_FIXED.swigluLimit) problems.push(`swiglu_limit ${config.swigluLimit} (llama.cpp fixes ${LLAMACPP_FIXED.swigluLimit})`);
  if (config.yarn.betaFast !== LLAMACPP_FIXED.betaFast || config.yarn.betaSlow !== LLAMACPP_FIXED.betaSlow) {
    problems.push(`YaRN beta_fast/beta_slow ${config.yarn.betaFast}/${config.yarn.betaSlow} (llama.cpp's gpt-oss uses ${LLAMACPP_FIXED.betaFast}/${LLAMACPP_FIXED.betaSlow})`);
  }
  const alternating = config.layerTypes.every((type, i) => type === (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
  if (!alternating) problems.push('layer_types must alternate sliding/full starting with sliding (llama.cpp\'s gpt-oss sliding-window pattern)');
  if (problems.length > 0) throw new CheckpointError(`checkpoint cannot be expressed as a llama.cpp gpt-oss GGUF: ${problems.join('; ')}`, { file: 'config.json' });
}

const u32 = (value: number): GgufValue => ({ type: 'uint32', value });
const f32 = (value: number): GgufValue => ({ type: 'float32', value });
const str = (value: string): GgufValue => ({ type: 'string', value });

/** general.* and gpt-oss.* hyperparameters, as llama.cpp's converter writes them. */
export function gptOssMetadata(config: GptOssConfig, options: { name: string; experts: ExpertEncoding }): GgufMetadata {
  checkRepresentable(config);
  const arch = GGUF_ARCHITECTURE;
  return new Map<string, GgufValue>([
    ['general.architecture', str(arch)],
    ['general.name', str(options.name)],
    ['general.alignment', u32(32)],
    ['general.file_type', u32(FILE_TYPE[options.experts])],
    [`${arch}.block_count`, u32(config.numLayers)],
    [`${arch}.context_length`, u32(config.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, u32(config.hiddenSize)],
    [`${arch}.feed_forward_length`, u32(config.intermediateSize)],
    [`${arch}.expert_feed_forward_length`, u32(config.intermediateSize)],
    [`${arch}.attention.head_count`, u32(config.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(config.numKvHeads)],
    [`${arch}.attention.key_length`, u32(config.headDim)],
    [`${arch}.attention.value_length`, u32(config.headDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(config.rmsNormEps)],
    [`${arch}.attention.sliding_window`, u32(config.slidingWindow)],
    [`${arch}.rope.freq_base`, f32(config.ropeTheta)],
    [`${arch}.rope.scaling.type`, str('yarn')],
    [`${arch}.rope.scaling.factor`, f32(config.yarn.factor)],
    [`${arch}.rope.scaling.original_context_length`, u32(config.yarn.originalMaxPositionEmbeddings)],
    [`${arch}.rope.scaling.yarn_beta_fast`, f32(config.yarn.betaFast)],
    [`${arch}.rope.scaling.yarn_beta_slow`, f32(config.yarn.betaSlow)],
    [`${arch}.expert_count`, u32(config.numExperts)],
    [`${arch}.expert_used_count`, u32(config.expertsPerToken)],
  ]);
}

// ---------------------------------------------------------------------------------------------
// Tensors

/** A dense checkpoint tensor as F32; GGUF dims are the HF shape reversed. */
function denseTensor(checkpoint: Checkpoint, ggufName: string, hfName: string): GgufTensor {
  return { name: ggufName, type: 'F32', dims: [...checkpoint.entry(hfName).shape].reverse(), data: () => [bytesOf(checkpoint.dense(hfName))] };
}

/** A weight matrix: F32, or its BF16 bytes copied as stored when asked for and the checkpoint holds BF16. */
function matrixTensor(checkpoint: Checkpoint, ggufName: string, hfName: string, encoding: MatrixEncoding): GgufTensor {
  const entry = checkpoint.entry(hfName);
  if (encoding === 'f32' || entry.dtype !== 'BF16') return denseTensor(checkpoint, ggufName, hfName);
  return { name: ggufName, type: 'BF16', dims: [...entry.shape].reverse(), data: () => [checkpoint.raw(hfName)] };
}

/** gate (parity 0) or up (parity 1) half of the interleaved gate_up bias: [E, I] -> dims [I, E]. */
function gateUpBiasTensor(checkpoint: Checkpoint, layer: number, ggufName: string, parity: 0 | 1): GgufTensor {
  const { numExperts, intermediateSize } = checkpoint.config;
  const hfName = tensorNames.layer(layer).gateUpBias;
  return {
    name: ggufName,
    type: 'F32',
    dims: [intermediateSize, numExperts],
    data: () => [bytesOf(interleavedRows(checkpoint.dense(hfName), 1, parity))],
  };
}

/** One expert's weight rows in the chosen encoding. */
function encodeExpert(checkpoint: Checkpoint, layer: number, which: 'gate_up' | 'down', expert: number, parity: 0 | 1 | null, encoding: ExpertEncoding): Uint8Array {
  const tensor = checkpoint.mxfp4Expert(layer, which, expert);
  const [, , cols] = tensor.shape;
  if (encoding === 'mxfp4') {
    const blocksPerRow = cols / MXFP4_BLOCK;
    const rowBlocks = parity === null ? tensor.blocks : interleavedRows(tensor.blocks, blocksPerRow * MXFP4_BYTES_PER_BLOCK, parity);
    const rowScales = parity === null ? tensor.scales : interleavedRows(tensor.scales, blocksPerRow, parity);
    return repackMxfp4(rowBlocks, rowScales);
  }
  const decoded = decodeMxfp4Expert(tensor, 0);
  const rows = parity === null ? decoded : interleavedRows(decoded, cols, parity);
  return encoding === 'f16' ? encodeF16(rows) : bytesOf(rows);
}

function expertTensor(checkpoint: Checkpoint, layer: number, ggufName: string, which: 'gate_up' | 'down', parity: 0 | 1 | null, encoding: ExpertEncoding): GgufTensor {
  const { numExperts, hiddenSize, intermediateSize } = checkpoint.config;
  const dims = which === 'gate_up' ? [hiddenSize, intermediateSize, numExperts] : [intermediateSize, hiddenSize, numExperts];
  return {
    name: ggufName,
    type: EXPERT_GGML_TYPE[encoding],
    dims,
    data: function* () {
      for (let expert = 0; expert < numExperts; expert++) yield encodeExpert(checkpoint, layer, which, expert, parity, encoding);
    },
  };
}

/** Every tensor llama.cpp's gpt-oss loader expects, in the converter's naming. */
export function gptOssTensors(checkpoint: Checkpoint, experts: ExpertEncoding, matrices: MatrixEncoding = 'f32'): GgufTensor[] {
  const tensors: GgufTensor[] = [
    matrixTensor(checkpoint, 'token_embd.weight', tensorNames.embed, matrices),
    denseTensor(checkpoint, 'output_norm.weight', tensorNames.finalNorm),
    matrixTensor(checkpoint, 'output.weight', tensorNames.lmHead, matrices),
  ];
  for (let layer = 0; layer < checkpoint.config.numLayers; layer++) {
    const hf = tensorNames.layer(layer);
    const blk = `blk.${layer}`;
    tensors.push(
      denseTensor(checkpoint, `${blk}.attn_norm.weight`, hf.inputNorm),
      matrixTensor(checkpoint, `${blk}.attn_q.weight`, hf.qWeight, matrices),
      denseTensor(checkpoint, `${blk}.attn_q.bias`, hf.qBias),
      matrixTensor(checkpoint, `${blk}.attn_k.weight`, hf.kWeight, matrices),
      denseTensor(checkpoint, `${blk}.attn_k.bias`, hf.kBias),
      matrixTensor(checkpoint, `${blk}.attn_v.weight`, hf.vWeight, matrices),
      denseTensor(checkpoint, `${blk}.attn_v.bias`, hf.vBias),
      matrixTensor(checkpoint, `${blk}.attn_output.weight`, hf.oWeight, matrices),
      denseTensor(checkpoint, `${blk}.attn_output.bias`, hf.oBias),
      denseTensor(checkpoint, `${blk}.attn_sinks.weight`, hf.sinks),
      denseTensor(checkpoint, `${blk}.post_attention_norm.weight`, hf.postAttnNorm),
      denseTensor(checkpoint, `${blk}.ffn_gate_inp.weight`, hf.routerWeight),
      denseTensor(checkpoint, `${blk}.ffn_gate_inp.bias`, hf.routerBias),
      expertTensor(checkpoint, layer, `${blk}.ffn_gate_exps.weight`, 'gate_up', 0, experts),
      gateUpBiasTensor(checkpoint, layer, `${blk}.ffn_gate_exps.bias`, 0),
      expertTensor(checkpoint, layer, `${blk}.ffn_up_exps.weight`, 'gate_up', 1, experts),
      gateUpBiasTensor(checkpoint, layer, `${blk}.ffn_up_exps.bias`, 1),
      expertTensor(checkpoint, layer, `${blk}.ffn_down_exps.weight`, 'down', null, experts),
      denseTensor(checkpoint, `${blk}.ffn_down_exps.bias`, hf.downBias),
    );
  }
  return tensors;
}

export interface GgufExportResult {
  file: string;
  bytes: number;
  tensorCount: number;
  experts: ExpertEncoding;
}

/** Writes `outFile` from an open checkpoint and the tokenizer vocabulary. */
export function exportGguf(checkpoint: Checkpoint, vocabulary: TokenizerVocabulary, outFile: string, options: { experts: ExpertEncoding; matrices?: MatrixEncoding; name?: string }): GgufExportResult {
  const { config } = checkpoint;
  if (vocabulary.tokenBytes.length !== config.vocabSize) {
    throw new CheckpointError(`vocab_size ${config.vocabSize} does not match the o200k_harmony vocabulary (${vocabulary.tokenBytes.length} tokens)`, { file: path.join(checkpoint.dir, 'config.json') });
  }
  const metadata: GgufMetadata = new Map([
    ...gptOssMetadata(config, { name: options.name ?? checkpoint.name, experts: options.experts }),
    ...tokenizerMetadata(vocabulary),
  ]);
  const tensors = gptOssTensors(checkpoint, options.experts, options.matrices);
  const { bytes } = writeGguf(outFile, metadata, tensors);
  readGgufInfo(outFile); // fails loudly if what was written does not parse back
  return { file: outFile, bytes, tensorCount: tensors.length, experts: options.experts };
}
