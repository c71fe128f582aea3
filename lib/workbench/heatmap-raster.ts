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
  const { numTokens, numLayers } = data;
  if (out.length !== numTokens * numLayers * 4) throw new Error(`raster buffer has ${out.length} bytes, expected ${numTokens * numLayers * 4}`);
  const palette = mode.kind === 'expert' ? expertPalette(data.numExperts) : sequentialLut(mode.kind === 'weight' ? 'weight' : 'entropy');
  // Whole RGBA pixels as 32-bit words: one read and one write per cell (same bytes, same order).
  const colours = new Uint32Array(palette.buffer, palette.byteOffset, palette.length / 4);
  const pixels = new Uint32Array(out.buffer, out.byteOffset, numTokens * numLayers);
  const colourIndexOf = cellColourIndex(data, mode);
  for (let l = 0; l < numLayers; l++) {
    const row = l * numTokens;
    for (let t = 0; t < numTokens; t++) pixels[row + t] = colours[colourIndexOf(t * numLayers + l)];
  }
  return out;
}

/** Palette index of cell (token * numLayers + layer), one small function per mode so the loop stays monomorphic. */
function cellColourIndex(data: HeatmapData, mode: HeatmapMode): (cell: number) => number {
  const { experts, weights, entropy, topK } = data;
  switch (mode.kind) {
    case 'expert': {
      const rank = Math.min(mode.rank, topK - 1);
      return (cell) => experts[cell * topK + rank];
    }
    case 'weight': {
      const { expert } = mode;
      return (cell) => {
        for (let slot = cell * topK; slot < (cell + 1) * topK; slot++) if (experts[slot] === expert) return weights[slot];
        return 0;
      };
    }
    case 'entropy':
      return (cell) => entropy[cell];
  }
}
