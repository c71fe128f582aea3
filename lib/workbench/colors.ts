/**
 * Colour scales of the workbench, as 256-entry RGBA lookup tables so the canvas heatmap can colour
 * millions of cells without calling d3 per cell. d3 supplies the perceptual colour maps.
 */
import { interpolateMagma, interpolateSinebow, interpolateViridis, rgb } from 'd3';

export type SequentialScaleName = 'weight' | 'entropy' | 'usage';

/** One RGBA entry per step; 256 steps. */
export const LUT_STEPS = 256;

const SEQUENTIAL_INTERPOLATORS: Record<SequentialScaleName, (t: number) => string> = {
  weight: interpolateViridis,
  entropy: interpolateMagma,
  usage: interpolateViridis,
};

export function sequentialInterpolator(name: SequentialScaleName): (t: number) => string {
  return SEQUENTIAL_INTERPOLATORS[name];
}

function writeColor(out: Uint8ClampedArray, index: number, css: string): void {
  const colour = rgb(css);
  out[index * 4] = colour.r;
  out[index * 4 + 1] = colour.g;
  out[index * 4 + 2] = colour.b;
  out[index * 4 + 3] = 255;
}

export function sequentialLut(name: SequentialScaleName): Uint8ClampedArray {
  const interpolate = SEQUENTIAL_INTERPOLATORS[name];
  const lut = new Uint8ClampedArray(LUT_STEPS * 4);
  for (let step = 0; step < LUT_STEPS; step++) writeColor(lut, step, interpolate(step / (LUT_STEPS - 1)));
  return lut;
}

/** Golden-ratio hue steps so that neighbouring expert ids get clearly different colours. */
const GOLDEN_FRACTION = 0.6180339887498949;

export function expertHue(expert: number): number {
  return (expert * GOLDEN_FRACTION) % 1;
}

export function expertColor(expert: number): string {
  return rgb(interpolateSinebow(expertHue(expert))).formatHex();
}

/** RGBA per expert id. */
export function expertPalette(numExperts: number): Uint8ClampedArray {
  const palette = new Uint8ClampedArray(numExperts * 4);
  for (let expert = 0; expert < numExperts; expert++) writeColor(palette, expert, expertColor(expert));
  return palette;
}

/** Maps a value in [min, max] to a LUT step, clamping outside values. */
export function lutStep(value: number, min: number, max: number): number {
  if (!(max > min) || !Number.isFinite(value)) return 0;
  const fraction = (value - min) / (max - min);
  return Math.round(Math.min(1, Math.max(0, fraction)) * (LUT_STEPS - 1));
}
