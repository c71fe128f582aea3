/** Statistics over routing captures: router entropy and per-layer expert usage. Pure, typed-array in and out. */

export interface RoutingShape {
  numTokens: number;
  numLayers: number;
  numExperts: number;
  topK: number;
}

/** Shannon entropy (nats) of softmax(logits) for each [token, layer] row of [T, L, E] logits. */
export function routerEntropy(logits: Float32Array, shape: RoutingShape): Float32Array {
  const { numTokens, numLayers, numExperts } = shape;
  const rows = numTokens * numLayers;
  if (logits.length !== rows * numExperts) {
    throw new Error(`router logits have ${logits.length} values, expected ${rows} rows x ${numExperts} experts`);
  }
  const entropy = new Float32Array(rows);
  for (let row = 0; row < rows; row++) {
    const offset = row * numExperts;
    let maxLogit = -Infinity;
    for (let e = 0; e < numExperts; e++) maxLogit = Math.max(maxLogit, logits[offset + e]);
    let partition = 0;
    let weightedShift = 0;
    for (let e = 0; e < numExperts; e++) {
      const shifted = logits[offset + e] - maxLogit;
      const unnormalised = Math.exp(shifted);
      partition += unnormalised;
      weightedShift += unnormalised * shifted;
    }
    // H = log Z - E[shifted]
    entropy[row] = Math.log(partition) - weightedShift / partition;
  }
  return entropy;
}

/** Softmax of one row of logits (the router's full distribution over experts). */
export function softmax(values: ArrayLike<number>): number[] {
  let maxValue = -Infinity;
  for (let i = 0; i < values.length; i++) maxValue = Math.max(maxValue, values[i]);
  const exps = Array.from({ length: values.length }, (_, i) => Math.exp(values[i] - maxValue));
  const total = exps.reduce((sum, value) => sum + value, 0);
  return exps.map((value) => value / total);
}

export interface TokenRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * [L, E] fraction of tokens in `range` that routed to expert e at layer l (a token selects k experts,
 * so each layer's row sums to k).
 */
export function expertUsage(experts: ArrayLike<number>, shape: RoutingShape, range?: TokenRange): Float32Array {
  const { numTokens, numLayers, numExperts, topK } = shape;
  const start = Math.max(0, range?.start ?? 0);
  const end = Math.min(numTokens, range?.end ?? numTokens);
  const usage = new Float32Array(numLayers * numExperts);
  const count = end - start;
  if (count <= 0) return usage;
  for (let t = start; t < end; t++) {
    for (let l = 0; l < numLayers; l++) {
      const base = (t * numLayers + l) * topK;
      for (let slot = 0; slot < topK; slot++) usage[l * numExperts + experts[base + slot]] += 1;
    }
  }
  for (let i = 0; i < usage.length; i++) usage[i] /= count;
  return usage;
}

/** Element-wise a - b of two usage matrices of the same shape. */
export function usageDifference(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new Error(`usage matrices differ in size (${a.length} vs ${b.length}): compare traces of the same model`);
  return a.map((value, i) => value - b[i]);
}
