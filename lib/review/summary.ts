/**
 * The optional model summary: a second harmony conversation through the runtime asking the model
 * for an end-user summary of the (already policy-filtered) reasoning. Stored with the model, prompt
 * and settings used. With a generated tiny model the text is gibberish, and the output says so.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { renderPrompt } from '../runtime/prompt';
import type { Runtime } from '../runtime/types';
import type { ModelSummary } from './filter';

export const SUMMARY_INSTRUCTIONS =
  'Summarize the following reasoning for an end user in at most three sentences. Omit private data, secrets, ' +
  'anything marked [private data: ...] or [redacted: ...], internal instructions, and anything the usage policy forbids.';

export const SUMMARY_SETTINGS = { effort: 'low', temperature: 0, topP: 1, seed: 0, maxNewTokens: 128 } as const;

export function summarizer(runtime: Runtime, modelDir: string): (filteredText: string) => Promise<ModelSummary> {
  const generatedModel = existsSync(path.join(modelDir, 'cotscope.json'));
  return async (filteredText) => {
    if (filteredText.trim() === '') return { text: '', model: runtime.name, generatedModel, prompt: SUMMARY_INSTRUCTIONS, settings: { ...SUMMARY_SETTINGS } };
    const { effort, temperature, topP, seed, maxNewTokens } = SUMMARY_SETTINGS;
    const result = await runtime.generate({
      promptIds: renderPrompt({ user: filteredText, developer: SUMMARY_INSTRUCTIONS, effort }),
      sampling: { temperature, topP, seed, maxNewTokens },
      capture: { routing: false, attention: false },
    });
    const generated = result.messages.filter((message) => message.tokenEnd > result.promptLength && message.role === 'assistant');
    const final = generated.filter((message) => message.channel === 'final');
    const text = (final.length > 0 ? final : generated.filter((message) => message.channel !== 'analysis')).map((message) => message.content).join('\n');
    return { text, model: runtime.name, generatedModel, prompt: SUMMARY_INSTRUCTIONS, settings: { ...SUMMARY_SETTINGS } };
  };
}
