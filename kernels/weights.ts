/**
 * Checkpoint tensors as graph initializers: shape-checked dense tensors and MXFP4 experts decoded
 * to fp32 or re-expressed losslessly as QMoE int8 (uint8 with the implicit zero point 128).
 */
import { CheckpointError } from '../lib/model/errors';
import { decodeMxfp4, mxfp4ToInt8Blocks } from '../lib/model/mxfp4';
import type { Mxfp4Tensor, WeightSource } from '../lib/model/weights';

/** QMoE's implicit zero point for 8-bit weights. */
const QMOE_INT8_ZERO_POINT = 128;

/** A dense tensor, checked against the shape the graph expects. */
export function denseTensor(source: WeightSource, name: string, dims: number[]): Float32Array {
  const data = source.dense(name);
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new CheckpointError(`tensor has ${data.length} values, expected [${dims.join(', ')}] = ${expected}`, { tensor: name });
  }
  return data;
}

function checkedExperts(source: WeightSource, layer: number, which: 'gate_up' | 'down', rows: number, cols: number): Mxfp4Tensor {
  const tensor = source.mxfp4(layer, which);
  const [experts, r, c] = tensor.shape;
  if (experts !== source.config.numExperts || r !== rows || c !== cols) {
    throw new CheckpointError(
      `layer ${layer} ${which} experts have shape [${tensor.shape.join(', ')}], expected [${source.config.numExperts}, ${rows}, ${cols}]`,
      { tensor: `model.layers.${layer}.mlp.experts.${which}_proj_blocks` },
    );
  }
  return tensor;
}

export interface ExpertTensorFloat {
  /** [E, rows, cols] = [expert, out, in] */
  weights: Float32Array;
  dims: [number, number, number];
}

export interface ExpertTensorInt8 {
  /** [E, rows, cols] uint8, value = q - 128 */
  weights: Uint8Array;
  /** [E, rows, cols / 32] */
  scales: Float32Array;
  dims: [number, number, number];
  scaleDims: [number, number, number];
}

/** Expected [rows, cols] of an expert tensor: gate_up [2I, H], down [H, I]. */
export function expertDims(source: WeightSource, which: 'gate_up' | 'down'): [number, number] {
  const { hiddenSize, intermediateSize } = source.config;
  return which === 'gate_up' ? [2 * intermediateSize, hiddenSize] : [hiddenSize, intermediateSize];
}

export function expertsFloat(source: WeightSource, layer: number, which: 'gate_up' | 'down'): ExpertTensorFloat {
  const [rows, cols] = expertDims(source, which);
  const tensor = checkedExperts(source, layer, which, rows, cols);
  return { weights: decodeMxfp4(tensor.blocks, tensor.scales), dims: [source.config.numExperts, rows, cols] };
}

export function expertsInt8(source: WeightSource, layer: number, which: 'gate_up' | 'down'): ExpertTensorInt8 {
  const [rows, cols] = expertDims(source, which);
  const tensor = checkedExperts(source, layer, which, rows, cols);
  const { values, scales } = mxfp4ToInt8Blocks(tensor.blocks, tensor.scales);
  // Shift to uint8 in place (same bytes viewed unsigned) to avoid a second copy of the experts.
  const weights = new Uint8Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) weights[i] = values[i] + QMOE_INT8_ZERO_POINT;
  const experts = source.config.numExperts;
  return { weights, scales, dims: [experts, rows, cols], scaleDims: [experts, rows, cols / 32] };
}
