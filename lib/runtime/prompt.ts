/** The single-turn prompt the CLI, batch capture and live run render: system, developer, user. */
import { renderConversation, type ReasoningEffort } from '../harmony/render';

export type { ReasoningEffort } from '../harmony/render';

export interface PromptSpec {
  user: string;
  effort: ReasoningEffort;
  /** Model identity line of the system message (harmony's default when absent). */
  system?: string;
  /** Developer instructions; no developer message when absent. */
  developer?: string;
  /** `YYYY-MM-DD`; left out when absent so renders are reproducible. */
  currentDate?: string;
}

export function renderPrompt(spec: PromptSpec): number[] {
  return renderConversation({
    system: { reasoningEffort: spec.effort, modelIdentity: spec.system, currentDate: spec.currentDate },
    developer: spec.developer !== undefined ? { instructions: spec.developer } : null,
    messages: [{ role: 'user', content: spec.user }],
  });
}
