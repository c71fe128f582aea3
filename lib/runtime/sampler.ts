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

/** What an engine may have computed of a row of logits already. */
export interface KnownLogitStats {
  logSumExp?: number;
  /** The first index of the largest logit. */
  argmax?: number;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** log softmax(logits)[token], computed stably in float64. */
export function logProbability(logits: Float32Array, token: number): number {
  return logProbabilityWithMax(logits, token, maxOf(logits));
}

/** Softmax of logits / temperature into float64 probabilities. */
export function temperatureSoftmax(logits: Float32Array, temperature: number): Float64Array {
  const probabilities = new Float64Array(logits.length);
  const total = temperatureWeights(logits, temperature, maxOf(logits), probabilities);
  for (let i = 0; i < probabilities.length; i++) probabilities[i] /= total;
  return probabilities;
}

const NEGLIGIBLE_EXPONENT = -80;

function maxOf(values: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

/** Writes exp((logit - max) / temperature) into `out` and returns their sum. */
function temperatureWeights(logits: Float32Array, temperature: number, max: number, out: Float32Array | Float64Array): number {
  const inverse = 1 / temperature;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const scaled = (logits[i] - max) * inverse;
    // e^-80 ~ 2e-35: even 201k such terms change no sum; skipping Math.exp halves the cost on real logits.
    const w = scaled < NEGLIGIBLE_EXPONENT ? 0 : Math.exp(scaled);
    out[i] = w;
    sum += w;
  }
  return sum;
}

/**
 * The nucleus: the smallest set of most probable tokens whose mass reaches topP, in descending
 * probability. `weights` need not be normalised (`total` is their sum). Sorting all 201k tokens
 * per step is slow, so only tokens above a threshold are sorted; when they already hold topP of
 * the mass, every excluded token is less probable than every candidate and cannot be in the
 * nucleus, so the result is exact.
 */
export function nucleus(weights: Float32Array | Float64Array, topP: number, total = 1): Int32Array {
  let max = 0;
  for (let i = 0; i < weights.length; i++) if (weights[i] > max) max = weights[i];
  const target = topP * total;
  for (let threshold = max / 64; ; threshold /= 64) {
    const candidates: number[] = [];
    let mass = 0;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] >= threshold) {
        candidates.push(i);
        mass += weights[i];
      }
    }
    if (mass >= target || threshold === 0 || candidates.length === weights.length) {
      candidates.sort((a, b) => weights[b] - weights[a] || a - b);
      let cumulative = 0;
      let size = 0;
      while (size < candidates.length) {
        cumulative += weights[candidates[size]];
        size++;
        if (cumulative >= target) break;
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

/** A forward pass produced NaN or infinite logits: broken weights (a NaN embedding, say) or a broken kernel. */
export class NonFiniteLogitsError extends Error {
  constructor(readonly position: number | null, detail: string) {
    super(`the model's logits${position === null ? '' : ` at position ${position}`} are not finite (${detail}): ` +
      'the checkpoint holds NaN/Inf weights or the computation overflowed; nothing was sampled from them');
    this.name = 'NonFiniteLogitsError';
  }
}

/**
 * Why the logits cannot be sampled from, or null when they can. With the graph's log-sum-exp this
 * is one comparison (any NaN or +Inf logit makes it non-finite); without it, one pass without exp.
 */
export function nonFiniteLogitsReason(logits: Float32Array, logSumExp?: number): string | null {
  if (logSumExp !== undefined) return Number.isFinite(logSumExp) ? null : `log-sum-exp is ${logSumExp}`;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    if (Number.isNaN(value) || value === Infinity) return `logit ${i} is ${value}`;
    if (value > max) max = value;
  }
  return max === -Infinity ? 'every logit is -Infinity' : null;
}

export interface SampledToken {
  token: number;
  /** log p(token) under the unmodified model distribution (temperature 1, no top-p). */
  logprob: number;
}

/**
 * Picks next tokens from last-position logits. Reuses one scratch buffer across steps and shares
 * the exp pass between sampling and the log-probability where it can: at 201k tokens the sampler
 * otherwise costs more than a tiny model's forward pass.
 */
export class Sampler {
  private scratch = new Float32Array(0);

  constructor(private readonly settings: SamplerSettings, private readonly random: SeededRandom) {
    validateSamplerSettings(settings);
  }

  /**
   * `known.logSumExp`, when the engine computed it (the native kernels, or the graph's
   * LOGITS_LOGSUMEXP), replaces the JS exp pass over the whole vocabulary that the log-probability
   * otherwise needs; `known.argmax` the greedy pick's JS pass. `position` (of the token whose
   * forward pass gave the logits) names where non-finite logits came from.
   */
  pick(logits: Float32Array, known: KnownLogitStats = {}, position?: number): SampledToken {
    const { logSumExp } = known;
    const nonFinite = nonFiniteLogitsReason(logits, logSumExp);
    if (nonFinite) throw new NonFiniteLogitsError(position ?? null, nonFinite);
    const { temperature, topP } = this.settings;
    const logprobOf = (token: number, max: number) => (logSumExp === undefined ? logProbabilityWithMax(logits, token, max) : logits[token] - logSumExp);
    if (temperature === 0) {
      const token = known.argmax ?? argmax(logits);
      return { token, logprob: logprobOf(token, logits[token]) };
    }
    const max = maxOf(logits);
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const weights = this.scratch;
    let total = temperatureWeights(logits, temperature, max, weights);
    let token = -1;
    if (topP < 1) {
      const candidates = nucleus(weights, topP, total);
      total = 0;
      for (const id of candidates) total += weights[id];
      let remaining = this.random.next() * total;
      for (const id of candidates) {
        remaining -= weights[id];
        if (remaining < 0) {
          token = id;
          break;
        }
      }
      if (token < 0) token = candidates[candidates.length - 1];
    } else {
      let remaining = this.random.next() * total;
      for (let i = 0; i < weights.length; i++) {
        remaining -= weights[i];
        if (remaining < 0) {
          token = i;
          break;
        }
      }
      if (token < 0) token = argmax(logits);
    }
    const logprob = temperature === 1 && topP === 1 ? logits[token] - max - Math.log(total) : logprobOf(token, max);
    return { token, logprob };
  }
}

function logProbabilityWithMax(logits: Float32Array, token: number, max: number): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const shifted = logits[i] - max;
    if (shifted >= NEGLIGIBLE_EXPONENT) sum += Math.exp(shifted);
  }
  return logits[token] - max - Math.log(sum);
}

/** Picks one token (a one-off Sampler; generation loops keep one Sampler for the whole run). */
export function sampleToken(logits: Float32Array, settings: SamplerSettings, random: SeededRandom): number {
  return new Sampler(settings, random).pick(logits).token;
}
