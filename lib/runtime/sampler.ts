/**
 * Next-token sampling: temperature, nucleus (top-p) and a seeded PRNG. Temperature 0 is greedy.
 * Log-probabilities are always those of the unmodified model distribution (temperature 1, no
 * top-p), so they compare directly with other implementations.
 */

/** xoshiro128** seeded through splitmix32: fast, deterministic, good enough statistics for sampling. */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitmix();
    this.s1 = splitmix();
    this.s2 = splitmix();
    this.s3 = splitmix();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** log softmax(logits)[token], computed stably in float64. */
export function logProbability(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[token] - max - Math.log(sum);
}

/** Softmax of logits / temperature into float64 probabilities. */
export function temperatureSoftmax(logits: Float32Array, temperature: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const probabilities = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp((logits[i] - max) / temperature);
    probabilities[i] = p;
    sum += p;
  }
  for (let i = 0; i < probabilities.length; i++) probabilities[i] /= sum;
  return probabilities;
}

/**
 * The nucleus: the smallest set of most probable tokens whose mass reaches topP, in descending
 * probability. Sorting all 201k tokens per step is slow, so only tokens above a threshold are
 * sorted; when they already hold topP of the mass, every excluded token is less probable than
 * every candidate and cannot be in the nucleus, so the result is exact.
 */
export function nucleus(probabilities: Float64Array, topP: number): Int32Array {
  let max = 0;
  for (let i = 0; i < probabilities.length; i++) if (probabilities[i] > max) max = probabilities[i];
  for (let threshold = max / 64; ; threshold /= 64) {
    const candidates: number[] = [];
    let mass = 0;
    for (let i = 0; i < probabilities.length; i++) {
      if (probabilities[i] >= threshold) {
        candidates.push(i);
        mass += probabilities[i];
      }
    }
    if (mass >= topP || threshold === 0 || candidates.length === probabilities.length) {
      candidates.sort((a, b) => probabilities[b] - probabilities[a] || a - b);
      let cumulative = 0;
      let size = 0;
      while (size < candidates.length) {
        cumulative += probabilities[candidates[size]];
        size++;
        if (cumulative >= topP) break;
      }
      return Int32Array.from(candidates.slice(0, size));
    }
    if (threshold < Number.MIN_VALUE * 64) threshold = 0;
  }
}

export interface SamplerSettings {
  temperature: number;
  topP: number;
}

export function validateSamplerSettings({ temperature, topP }: SamplerSettings): void {
  if (!Number.isFinite(temperature) || temperature < 0) throw new RangeError(`temperature must be >= 0 (got ${temperature})`);
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) throw new RangeError(`top_p must be in (0, 1] (got ${topP})`);
}

/** Picks the next token from last-position logits. */
export function sampleToken(logits: Float32Array, settings: SamplerSettings, random: SeededRandom): number {
  if (settings.temperature === 0) return argmax(logits);
  const probabilities = temperatureSoftmax(logits, settings.temperature);
  const candidates = settings.topP < 1 ? nucleus(probabilities, settings.topP) : null;
  let total = 1;
  if (candidates) {
    total = 0;
    for (const id of candidates) total += probabilities[id];
  }
  let remaining = random.next() * total;
  if (candidates) {
    for (const id of candidates) {
      remaining -= probabilities[id];
      if (remaining < 0) return id;
    }
    return candidates[candidates.length - 1];
  }
  for (let i = 0; i < probabilities.length; i++) {
    remaining -= probabilities[i];
    if (remaining < 0) return i;
  }
  return argmax(logits);
}
