/**
 * Colours the whole [layers x tokens] heatmap into one RGBA image (one pixel per cell). The canvas
 * then only blits the visible part scaled up, so pan and zoom cost one drawImage per frame.
 */
import { expertPalette, sequentialLut } from './colors';
import type { HeatmapData } from './heatmap-payload';

export type HeatmapMode =
  /** Colour of the top-ranked (or chosen rank's) expert at each cell. */
  | { kind: 'expert'; rank: number }
  /** Routing weight of one expert (0 where it was not selected). */
  | { kind: 'weight'; expert: number }
  /** Router entropy over all experts, normalised by ln E. */
  | { kind: 'entropy' };

/** Image is `numTokens` wide and `numLayers` high; pixel (t, l) is cell token t, layer l. */
export function rasterizeHeatmap(data: HeatmapData, mode: HeatmapMode, out = new Uint8ClampedArray(data.numTokens * data.numLayers * 4)): Uint8ClampedArray {
  const { numTokens, numLayers, topK } = data;
  if (out.length !== numTokens * numLayers * 4) throw new Error(`raster buffer has ${out.length} bytes, expected ${numTokens * numLayers * 4}`);
  const palette = mode.kind === 'expert' ? expertPalette(data.numExperts) : sequentialLut(mode.kind === 'weight' ? 'weight' : 'entropy');
  for (let t = 0; t < numTokens; t++) {
    for (let l = 0; l < numLayers; l++) {
      const cell = t * numLayers + l;
      const colourIndex = cellColourIndex(data, mode, cell * topK, cell);
      const pixel = (l * numTokens + t) * 4;
      out[pixel] = palette[colourIndex * 4];
      out[pixel + 1] = palette[colourIndex * 4 + 1];
      out[pixel + 2] = palette[colourIndex * 4 + 2];
      out[pixel + 3] = 255;
    }
  }
  return out;
}

function cellColourIndex(data: HeatmapData, mode: HeatmapMode, slotBase: number, cell: number): number {
  switch (mode.kind) {
    case 'expert':
      return data.experts[slotBase + Math.min(mode.rank, data.topK - 1)];
    case 'weight': {
      for (let slot = 0; slot < data.topK; slot++) {
        if (data.experts[slotBase + slot] === mode.expert) return data.weights[slotBase + slot];
      }
      return 0;
    }
    case 'entropy':
      return data.entropy[cell];
  }
}
