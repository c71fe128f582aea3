/**
 * The decoded view of a checkpoint that graph builders and the fp64 reference consume.
 * Produced by the checkpoint reader (lib/model/checkpoint.ts); streamed per tensor so the
 * raw bytes of the whole model are never held together with the decoded copy.
 */
import type { GptOssConfig } from './config';

/** HF tensor names (spec §2.2). */
export const tensorNames = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  layer: (l: number) => {
    const p = `model.layers.${l}`;
    return {
      inputNorm: `${p}.input_layernorm.weight`,
      qWeight: `${p}.self_attn.q_proj.weight`,
      qBias: `${p}.self_attn.q_proj.bias`,
      kWeight: `${p}.self_attn.k_proj.weight`,
      kBias: `${p}.self_attn.k_proj.bias`,
      vWeight: `${p}.self_attn.v_proj.weight`,
      vBias: `${p}.self_attn.v_proj.bias`,
      oWeight: `${p}.self_attn.o_proj.weight`,
      oBias: `${p}.self_attn.o_proj.bias`,
      sinks: `${p}.self_attn.sinks`,
      postAttnNorm: `${p}.post_attention_layernorm.weight`,
      routerWeight: `${p}.mlp.router.weight`,
      routerBias: `${p}.mlp.router.bias`,
      gateUpBlocks: `${p}.mlp.experts.gate_up_proj_blocks`,
      gateUpScales: `${p}.mlp.experts.gate_up_proj_scales`,
      gateUpBias: `${p}.mlp.experts.gate_up_proj_bias`,
      downBlocks: `${p}.mlp.experts.down_proj_blocks`,
      downScales: `${p}.mlp.experts.down_proj_scales`,
      downBias: `${p}.mlp.experts.down_proj_bias`,
    };
  },
} as const;

export type LayerTensorNames = ReturnType<typeof tensorNames.layer>;

/** Raw MXFP4 expert tensor: blocks [E, R, G, 16] u8 and scales [E, R, G] u8 (spec §3). */
export interface Mxfp4Tensor {
  blocks: Uint8Array;
  scales: Uint8Array;
  /** [E, R, C] after decoding; C = G * 32. */
  shape: [number, number, number];
}

/**
 * Random access to decoded weights. Dense tensors are returned as float32 in the checkpoint's
 * own layout ([out, in] for linear weights). Each call reads from disk; callers should not
 * hold onto more than they need.
 */
export interface WeightSource {
  readonly config: GptOssConfig;
  /** A BF16 tensor decoded to float32, same shape as on disk. */
  dense(name: string): Float32Array;
  /** The raw MXFP4 blocks/scales of an expert tensor (gate_up or down) of one layer. */
  mxfp4(layer: number, which: 'gate_up' | 'down'): Mxfp4Tensor;
}

/** What a checkpoint must hold for one tensor: its shape and the dtypes the reader accepts. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** The first is what gpt-oss checkpoints use; dense tensors also accept F32 and F16. */
  dtypes: readonly string[];
  kind: 'dense' | 'mxfp4_blocks' | 'mxfp4_scales';
}

const DENSE_DTYPES = ['BF16', 'F32', 'F16'] as const;

/** Every tensor of a gpt-oss HF checkpoint for a config, in a stable order (spec §2.2, generalized). */
export function expectedTensors(config: GptOssConfig): ExpectedTensor[] {
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim, numExperts: E, vocabSize: V } = config;
  const dense = (name: string, shape: number[]): ExpectedTensor => ({ name, shape, dtypes: DENSE_DTYPES, kind: 'dense' });
  const blocks = (name: string, rows: number, cols: number): ExpectedTensor => ({ name, shape: [E, rows, cols / 32, 16], dtypes: ['U8'], kind: 'mxfp4_blocks' });
  const scales = (name: string, rows: number, cols: number): ExpectedTensor => ({ name, shape: [E, rows, cols / 32], dtypes: ['U8'], kind: 'mxfp4_scales' });
  const tensors: ExpectedTensor[] = [dense(tensorNames.embed, [V, H])];
  for (let l = 0; l < config.numLayers; l++) {
    const n = tensorNames.layer(l);
    tensors.push(
      dense(n.inputNorm, [H]),
      dense(n.qWeight, [numHeads * headDim, H]),
      dense(n.qBias, [numHeads * headDim]),
      dense(n.kWeight, [numKvHeads * headDim, H]),
      dense(n.kBias, [numKvHeads * headDim]),
      dense(n.vWeight, [numKvHeads * headDim, H]),
      dense(n.vBias, [numKvHeads * headDim]),
      dense(n.oWeight, [H, numHeads * headDim]),
      dense(n.oBias, [H]),
      dense(n.sinks, [numHeads]),
      dense(n.postAttnNorm, [H]),
      dense(n.routerWeight, [E, H]),
      dense(n.routerBias, [E]),
      blocks(n.gateUpBlocks, 2 * I, H),
      scales(n.gateUpScales, 2 * I, H),
      dense(n.gateUpBias, [E, 2 * I]),
      blocks(n.downBlocks, H, I),
      scales(n.downScales, H, I),
      dense(n.downBias, [E, H]),
    );
  }
  tensors.push(dense(tensorNames.finalNorm, [H]), dense(tensorNames.lmHead, [V, H]));
  return tensors;
}
