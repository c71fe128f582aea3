/**
 * The compact binary the trace view's heatmap renders from (served by /api/traces/[id]/heatmap).
 * Weights and entropy are quantised to one byte: the heatmap needs colour, the token inspector
 * serves exact numbers. Layout (little endian):
 *   u32 magic 'CSHM' | u32 version | u32 T | u32 L | u32 k | u32 E | u32 expertBytes (1|2) | u32 reserved
 *   experts [T, L, k] (u8 or u16) | pad to 4 | weights [T, L, k] u8 (w * 255) | entropy [T, L] u8 (H / ln E * 255)
 */
import type { RoutingShape } from './routing-stats';

const MAGIC = 0x4d485343; // 'CSHM' read as little-endian u32
const VERSION = 1;
const HEADER_BYTES = 32;

export interface HeatmapData extends RoutingShape {
  /** [T, L, k] expert ids, descending router logit. */
  experts: Uint8Array | Uint16Array;
  /** [T, L, k] routing weight quantised to 0..255. */
  weights: Uint8Array;
  /** [T, L] router entropy / ln(E) quantised to 0..255. */
  entropy: Uint8Array;
}

export function quantiseUnit(value: number): number {
  return Math.round(Math.min(1, Math.max(0, value)) * 255);
}

export function buildHeatmapData(
  shape: RoutingShape,
  experts: Uint8Array | Uint16Array,
  weights: Float32Array,
  entropyNats: Float32Array,
): HeatmapData {
  const maxEntropy = Math.log(shape.numExperts);
  return {
    ...shape,
    experts,
    weights: Uint8Array.from(weights, (weight) => quantiseUnit(weight)),
    entropy: Uint8Array.from(entropyNats, (entropy) => quantiseUnit(maxEntropy > 0 ? entropy / maxEntropy : 0)),
  };
}

const align4 = (bytes: number): number => (bytes + 3) & ~3;

export function encodeHeatmap(data: HeatmapData): Uint8Array {
  const { numTokens, numLayers, topK, numExperts } = data;
  const cells = numTokens * numLayers * topK;
  const expertBytes = data.experts.BYTES_PER_ELEMENT;
  const expertsEnd = HEADER_BYTES + align4(cells * expertBytes);
  const total = expertsEnd + align4(cells) + numTokens * numLayers;
  const buffer = new ArrayBuffer(total);
  const header = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
  header.set([MAGIC, VERSION, numTokens, numLayers, topK, numExperts, expertBytes, 0]);
  new Uint8Array(buffer, HEADER_BYTES, cells * expertBytes).set(new Uint8Array(data.experts.buffer, data.experts.byteOffset, cells * expertBytes));
  new Uint8Array(buffer, expertsEnd, cells).set(data.weights);
  new Uint8Array(buffer, expertsEnd + align4(cells), numTokens * numLayers).set(data.entropy);
  return new Uint8Array(buffer);
}

export function decodeHeatmap(bytes: ArrayBuffer): HeatmapData {
  if (bytes.byteLength < HEADER_BYTES) throw new Error(`heatmap payload is ${bytes.byteLength} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const [magic, version, numTokens, numLayers, topK, numExperts, expertBytes] = new Uint32Array(bytes, 0, 8);
  if (magic !== MAGIC) throw new Error('heatmap payload: bad magic (not a CSHM payload)');
  if (version !== VERSION) throw new Error(`heatmap payload: version ${version} is not supported (expected ${VERSION})`);
  if (expertBytes !== 1 && expertBytes !== 2) throw new Error(`heatmap payload: expert id width ${expertBytes} must be 1 or 2 bytes`);
  const cells = numTokens * numLayers * topK;
  const expertsEnd = HEADER_BYTES + align4(cells * expertBytes);
  const expected = expertsEnd + align4(cells) + numTokens * numLayers;
  if (bytes.byteLength !== expected) throw new Error(`heatmap payload: ${bytes.byteLength} bytes, expected ${expected} for T=${numTokens} L=${numLayers} k=${topK}`);
  const experts = expertBytes === 1 ? new Uint8Array(bytes, HEADER_BYTES, cells) : new Uint16Array(bytes, HEADER_BYTES, cells);
  return {
    numTokens,
    numLayers,
    topK,
    numExperts,
    experts,
    weights: new Uint8Array(bytes, expertsEnd, cells),
    entropy: new Uint8Array(bytes, expertsEnd + align4(cells), numTokens * numLayers),
  };
}
