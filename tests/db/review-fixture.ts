/**
 * Traces with known reasoning for the review tests: real harmony tokens (so token spans map to the
 * stored text exactly as in the app), an analysis message of the given text, a final answer.
 */
import { renderConversation } from '../../lib/harmony/render';
import { parseTokens } from '../../lib/harmony/parser';
import { encode } from '../../lib/harmony/tokenizer';
import { contentTokenOffsets } from '../../lib/review/filter';
import type { Store } from '../../lib/store/index';
import type { RunResult } from '../../lib/trace/types';

export const REVIEW_MODEL = { name: 'review-fixture', configHash: 'review', numLayers: 2, numExperts: 4, expertsPerToken: 2, numHeads: 2, hiddenSize: 32, vocabSize: 201088 };

export interface ReasoningTrace {
  traceId: string;
  /** Content tokens of the analysis message: [first, last + 1). */
  content: [number, number];
  /** Where each content token starts in the analysis text. */
  offsets: { token: number; charStart: number }[];
  analysis: string;
}

export async function storeReasoningTrace(store: Store, analysis: string, options: { collection?: string; final?: string; tags?: string[] } = {}): Promise<ReasoningTrace> {
  const prompt = [{ role: 'user', content: 'Think about it.' }];
  const promptIds = renderConversation({ system: { reasoningEffort: 'low' }, developer: null, messages: prompt as never });
  const generated = encode(`<|channel|>analysis<|message|>${analysis}<|end|><|start|>assistant<|channel|>final<|message|>${options.final ?? 'Done.'}<|return|>`, { allowSpecial: true });
  const tokens = [...promptIds, ...generated];
  const messages = parseTokens(tokens);
  const sampling = { temperature: 1, topP: 1, seed: 0, maxNewTokens: 64 };
  const result: RunResult = {
    model: { name: REVIEW_MODEL.name, configHash: REVIEW_MODEL.configHash }, tokens, promptLength: promptIds.length, messages,
    logprobs: new Array(generated.length).fill(0), routing: null, attention: null, sampling, stopReason: 'stop_token',
    timings: { prefillMs: 1, decodeMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
  };
  const traceId = await store.traces.create({ model: REVIEW_MODEL, prompt, effort: 'low', sampling, collection: options.collection ?? null, tags: options.tags });
  await store.traces.complete(traceId, result);
  const message = messages.find((candidate) => candidate.channel === 'analysis')!;
  const offsets = contentTokenOffsets(message, tokens)!;
  return { traceId, content: [offsets[0].token, offsets[offsets.length - 1].token + 1], offsets, analysis };
}
