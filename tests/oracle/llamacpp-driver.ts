/**
 * llama.cpp (through node-llama-cpp) as the independent implementation and the speed peer:
 * load a GGUF on the CPU and ask it for log-probabilities, greedy tokens or timed runs.
 *
 * For bit-level comparisons the context uses an F32 KV cache and no flash attention (on CPU
 * llama.cpp's flash attention works in f16; platform notes).
 */
import {
  getLlama,
  LlamaLogLevel,
  type ControlledEvaluateInputItem,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';

export interface LlamaCppOptions {
  threads: number;
  contextSize: number;
  /** F32 KV cache and no flash attention: slower, but comparable to a float32 reference. */
  exact: boolean;
}

let llamaInstance: Promise<Llama> | null = null;

/** One llama.cpp backend per process (CPU only, never builds from source). */
function llamaBackend(): Promise<Llama> {
  llamaInstance ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  return llamaInstance;
}

/** log(p) of every token from node-llama-cpp's probabilities, renormalised in double precision. */
export function logProbabilitiesFrom(probabilities: ReadonlyMap<number, number>, vocabSize: number): Float64Array {
  // node-llama-cpp sums the softmax normaliser in float32 over the whole vocabulary, which is
  // off by ~5e-4 relative for 201k tokens; the ratios between probabilities are accurate, so the
  // normaliser is recomputed here.
  let total = 0;
  for (const p of probabilities.values()) total += p;
  const logTotal = Math.log(total);
  const out = new Float64Array(vocabSize).fill(-Infinity);
  for (const [token, p] of probabilities) out[token] = Math.log(p) - logTotal;
  return out;
}

export class LlamaCppPeer {
  private constructor(
    readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
  ) {}

  static async open(ggufPath: string, options: LlamaCppOptions): Promise<LlamaCppPeer> {
    const llama = await llamaBackend();
    const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
    const context = await model.createContext({
      contextSize: options.contextSize,
      threads: options.threads,
      flashAttention: !options.exact ? undefined : false,
      ...(options.exact ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
    });
    return new LlamaCppPeer(model, context, context.getSequence());
  }

  tokenize(text: string): number[] {
    return Array.from(this.model.tokenize(text, true));
  }

  /** Clears the KV cache so the next call starts at position 0. */
  async reset(): Promise<void> {
    await this.sequence.clearHistory();
  }

  /**
   * Feeds `ids` from position 0 and returns, for each requested position p, the log-probabilities
   * of the token following ids[0..p] over the whole vocabulary.
   */
  async logProbabilities(ids: readonly number[], positions: readonly number[], vocabSize: number): Promise<Map<number, Float64Array>> {
    await this.reset();
    const wanted = new Set(positions);
    const items = ids.map((id, p): ControlledEvaluateInputItem => (wanted.has(p) ? [id as Token, { generateNext: { probabilities: true } }] : (id as Token)));
    const results = await this.sequence.controlledEvaluate(items);
    const out = new Map<number, Float64Array>();
    for (const p of positions) {
      const probabilities = results[p]?.next.probabilities;
      if (!probabilities) throw new Error(`llama.cpp returned no probabilities for position ${p}`);
      out.set(p, logProbabilitiesFrom(probabilities, vocabSize));
    }
    return out;
  }

  /** `count` greedy (temperature 0) tokens after `promptIds`, from position 0; never stops early. */
  async greedy(promptIds: readonly number[], count: number): Promise<number[]> {
    await this.reset();
    const generated: number[] = [];
    const pick = (id: number): ControlledEvaluateInputItem => [id as Token, { generateNext: { token: true } }];
    const context = promptIds.slice(0, -1).map((id) => id as Token);
    let results = await this.sequence.controlledEvaluate([...context, pick(promptIds[promptIds.length - 1])]);
    for (;;) {
      const next = results[results.length - 1]?.next.token;
      if (next === undefined || next === null) throw new Error(`llama.cpp produced no token at step ${generated.length}`);
      generated.push(next);
      if (generated.length === count) return generated;
      results = await this.sequence.controlledEvaluate([pick(next)]);
    }
  }

  /** Prefill `promptIds`, then decode `decodeTokens` greedy tokens through llama.cpp's own generation loop. */
  async timedRun(promptIds: readonly number[], decodeTokens: number): Promise<{ prefillMs: number; decodeMs: number; decoded: number }> {
    await this.reset();
    const prefillStart = performance.now();
    await this.sequence.evaluateWithoutGeneratingNewTokens(promptIds.slice(0, -1).map((id) => id as Token));
    const prefillMs = performance.now() - prefillStart;
    const decodeStart = performance.now();
    let decoded = 0;
    for await (const token of this.sequence.evaluate([promptIds[promptIds.length - 1] as Token], { temperature: 0, yieldEogToken: true })) {
      void token;
      decoded++;
      if (decoded >= decodeTokens) break;
    }
    return { prefillMs, decodeMs: performance.now() - decodeStart, decoded };
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
