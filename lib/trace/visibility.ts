/**
 * Which message text a reader without raw-reasoning rights may see, decided fail-closed: only text
 * positively known to be the prompt (system, developer, user) or the assistant's final answer.
 * Everything else the assistant wrote (any other channel, `Analysis`, a malformed header, role-less
 * text after `<|end|>`, tool traffic) is withheld. Pure; shared by the store, the workbench and the CLI.
 */

/** Roles whose messages come from the prompt's author, not from the model. */
export const PROMPT_ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user']);
/** The one assistant channel written for end users. */
export const FINAL_CHANNEL = 'final';
/** The raw chain-of-thought channel, the reasoning filter's input. */
export const ANALYSIS_CHANNEL = 'analysis';

export interface VisibilityFields {
  role: string;
  channel?: string | null;
  /** End of the message's token span; absent for a prompt message stored as written. */
  tokenEnd?: number;
}

/**
 * True only for text known to be prompt or final answer; anything unrecognised is false. A message
 * reaching past `promptLength` was generated, and generated text counts only as an assistant final
 * answer (a model that writes `<|start|>user` does not make its text the user's).
 */
export function isPlainlyVisible(message: VisibilityFields, promptLength = Infinity): boolean {
  const finalAnswer = message.role === 'assistant' && message.channel === FINAL_CHANNEL;
  const generated = message.tokenEnd !== undefined && message.tokenEnd > promptLength;
  if (generated) return finalAnswer;
  return finalAnswer || (PROMPT_ROLES.has(message.role) && (message.channel === null || message.channel === undefined));
}

/**
 * The same rule in SQL over a messages alias `m` joined to its trace alias `t` (prompt_tokens), for
 * search, snippets and previews.
 */
export function plainlyVisibleSql(m: string, t: string): string {
  return `((${m}.role = 'assistant' AND ${m}.channel = 'final')
    OR (${m}.role IN ('system', 'developer', 'user') AND ${m}.channel IS NULL AND ${m}.token_end <= ${t}.prompt_tokens))`;
}

/** Raw chain of thought as the filter reads it: assistant text on exactly the analysis channel. */
export function isAnalysisMessage(message: VisibilityFields): boolean {
  return message.role === 'assistant' && message.channel === ANALYSIS_CHANNEL;
}
