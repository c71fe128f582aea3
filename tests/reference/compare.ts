/** Small helpers for comparing a graph's float32 outputs with the fp64 reference. */

export interface Difference {
  /** Largest |actual - expected|. */
  maxAbs: number;
  /** maxAbs divided by the largest |expected| (a scale-relative error, stable near zero). */
  relative: number;
  /** Index of the largest difference. */
  at: number;
}

export const NO_DIFFERENCE: Difference = { maxAbs: 0, relative: 0, at: -1 };

export function difference(actual: ArrayLike<number>, expected: ArrayLike<number>): Difference {
  if (actual.length !== expected.length) {
    throw new Error(`cannot compare arrays of length ${actual.length} and ${expected.length}`);
  }
  let maxAbs = 0;
  let scale = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const gap = Math.abs(actual[i] - expected[i]);
    if (Number.isNaN(gap)) return { maxAbs: NaN, relative: NaN, at: i }; // never passes a tolerance
    if (gap > maxAbs) {
      maxAbs = gap;
      at = i;
    }
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbs, relative: scale === 0 ? maxAbs : maxAbs / scale, at };
}

/** The worse of two differences (by maxAbs). */
export function worse(a: Difference, b: Difference): Difference {
  return b.maxAbs > a.maxAbs || Number.isNaN(b.maxAbs) ? b : a;
}

export function describe(d: Difference): string {
  return `max abs ${d.maxAbs.toExponential(2)}, relative ${d.relative.toExponential(2)} (at ${d.at})`;
}
