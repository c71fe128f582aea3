/**
 * Server-side removal of raw chain of thought for identities that may not read it. Every server
 * path that returns message or token text passes through here before responding.
 */
import type { TraceMessage } from '../trace/types';
import { canReadRawReasoning, isRawReasoningChannel } from './roles';
import type { Identity } from './roles';

/** Shown instead of raw reasoning text; carries no information about the text itself. */
export const WITHHELD_TEXT = '[raw reasoning withheld: your role cannot read the analysis channel]';
/** Stands in for each token inside a withheld span, so token alignment and routing stay intact. */
export const WITHHELD_TOKEN = '\u2591';

export interface RedactableMessage {
  channel: string | null;
  content: string;
  tokenStart: number;
  tokenEnd: number;
}

export function redactMessages<M extends RedactableMessage>(messages: M[], identity: Identity): (M & { withheld: boolean })[] {
  const allowed = canReadRawReasoning(identity);
  return messages.map((message) => {
    const withheld = !allowed && isRawReasoningChannel(message.channel);
    return { ...message, content: withheld ? WITHHELD_TEXT : message.content, withheld };
  });
}

/** Token indices whose text the identity may not see (tokens inside raw reasoning messages). */
export function withheldTokenMask(messages: RedactableMessage[], numTokens: number, identity: Identity): Uint8Array {
  const mask = new Uint8Array(numTokens);
  if (canReadRawReasoning(identity)) return mask;
  for (const message of messages) {
    if (!isRawReasoningChannel(message.channel)) continue;
    mask.fill(1, Math.max(0, message.tokenStart), Math.min(numTokens, message.tokenEnd));
  }
  return mask;
}

export function redactTokenTexts(tokenTexts: string[], messages: RedactableMessage[], identity: Identity): string[] {
  const mask = withheldTokenMask(messages, tokenTexts.length, identity);
  return tokenTexts.map((text, index) => (mask[index] ? WITHHELD_TOKEN : text));
}

export type RedactedMessage = TraceMessage & { withheld: boolean };
