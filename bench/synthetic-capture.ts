/**
 * Synthetic capture data in the shapes of gpt-oss-20b and -120b for the store benchmarks.
 *
 * Attention follows gpt-oss's layout so stored sizes mean something: even layers are sliding
 * (a query attends only to the last 128 tokens, itself included), odd layers full (anywhere from
 * token 0 to the query). Each head's top-k are distinct positions in weight order, half of them
 * among the 32 most recent tokens and the rest anywhere the layer can see; a query with fewer
 * visible tokens than k pads with position -1 and weight 0, as the runtime does.
 */
import type { AttentionCapture, RunResult } from '../lib/trace/types';

export interface Shape { name: string; numLayers: number; numExperts: number; topK: number; numHeads: number }
export const SHAPES: Shape[] = [
  { name: 'gpt-oss-20b', numLayers: 24, numExperts: 32, topK: 4, numHeads: 64 },
  { name: 'gpt-oss-120b', numLayers: 36, numExperts: 128, topK: 4, numHeads: 64 },
];
const ATTENTION_TOP_K = 8;
const SLIDING_WINDOW = 128;
const RECENT_TOKENS = 32;
const PROMPT_TOKENS = 256;

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

export function syntheticRun(shape: Shape, numTokens: number, sections: { logits: boolean; attention: boolean }, seed: number): RunResult {
  const next = random(seed);
  const { numLayers, numExperts, topK } = shape;
  const rows = numTokens * numLayers;
  const experts = new Uint8Array(rows * topK);
  const weights = new Float32Array(rows * topK);
  for (let row = 0; row < rows; row++) {
    const first = Math.floor(next() * numExperts);
    let remaining = 1;
    for (let k = 0; k < topK; k++) {
      experts[row * topK + k] = (first + k * 7) % numExperts; // distinct while 7k < E
      const weight = k === topK - 1 ? remaining : remaining * (0.4 + next() * 0.3);
      weights[row * topK + k] = weight;
      remaining -= weight;
    }
  }
  const logits = sections.logits ? new Float32Array(rows * numExperts).map(() => (next() - 0.5) * 10) : new Float32Array(0);
  const generated = numTokens - PROMPT_TOKENS;
  return {
    model: { name: shape.name, configHash: `bench-${shape.name}` },
    tokens: Array.from({ length: numTokens }, () => Math.floor(next() * 200000)),
    promptLength: PROMPT_TOKENS,
    messages: [
      { role: 'user', channel: null, recipient: null, contentType: null, content: 'Explain the benchmark.', tokenStart: 0, tokenEnd: PROMPT_TOKENS, complete: true },
      { role: 'assistant', channel: 'analysis', recipient: null, contentType: null, content: 'thinking '.repeat(200), tokenStart: PROMPT_TOKENS, tokenEnd: PROMPT_TOKENS + generated / 2, complete: true },
      { role: 'assistant', channel: 'final', recipient: null, contentType: null, content: 'answer '.repeat(200), tokenStart: PROMPT_TOKENS + generated / 2, tokenEnd: numTokens, complete: true },
    ],
    logprobs: Array.from({ length: generated }, () => -next() * 4),
    routing: { numTokens, numLayers, numExperts, topK, experts, weights, logits },
    attention: sections.attention ? syntheticAttention(shape, numTokens, next) : null,
    sampling: { temperature: 1, topP: 1, seed, maxNewTokens: generated },
    stopReason: 'max_tokens',
    timings: { prefillMs: 1, decodeMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
  };
}

function syntheticAttention(shape: Shape, numTokens: number, next: () => number): AttentionCapture {
  const { numLayers, numHeads } = shape;
  const k = ATTENTION_TOP_K;
  const heads = numTokens * numLayers * numHeads;
  const sinkMass = new Float32Array(heads);
  const topPositions = new Int32Array(heads * k);
  const topWeights = new Float32Array(heads * k);
  const chosen = new Int32Array(k);
  for (let token = 0; token < numTokens; token++) {
    for (let layer = 0; layer < numLayers; layer++) {
      const visible = layer % 2 === 0 ? Math.min(token + 1, SLIDING_WINDOW) : token + 1;
      const kept = Math.min(k, visible);
      for (let head = 0; head < numHeads; head++) {
        const at = (token * numLayers + layer) * numHeads + head;
        const sink = next() * 0.5;
        sinkMass[at] = sink;
        pickDistinctOffsets(chosen, kept, visible, next);
        let share = 1 - sink;
        for (let slot = 0; slot < k; slot++) {
          const used = slot < kept;
          const weight = slot === kept - 1 ? share : share * (0.3 + next() * 0.4);
          topPositions[at * k + slot] = used ? token - chosen[slot] : -1;
          topWeights[at * k + slot] = used ? weight : 0;
          if (used) share -= weight;
        }
      }
    }
  }
  return { numTokens, numLayers, numHeads, topK: k, sinkMass, topPositions, topWeights };
}

/** `count` distinct offsets back from the query in [0, visible): the first half recent, the rest anywhere. */
function pickDistinctOffsets(out: Int32Array, count: number, visible: number, next: () => number): void {
  for (let slot = 0; slot < count; slot++) {
    const range = slot < count / 2 ? Math.min(visible, RECENT_TOKENS) : visible;
    let offset: number;
    do offset = Math.floor(next() * range); while (out.subarray(0, slot).includes(offset));
    out[slot] = offset;
  }
}
