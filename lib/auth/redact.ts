/**
 * Server-side removal of raw chain of thought for identities that may not read it. Every server
 * path that returns message or token text passes through here before responding. Fail-closed: a
 * reader without raw-reasoning rights gets only text positively known to be prompt or final answer
 * (lib/trace/visibility.ts); every other message keeps its token span but loses its text and header.
 */
import type { TraceMessage } from '../trace/types';
import { isPlainlyVisible } from '../trace/visibility';
import { canReadRawReasoning } from './roles';
import type { Identity } from './roles';

/** Shown instead of raw reasoning text; carries no information about the text itself. */
export const WITHHELD_TEXT = '[raw reasoning withheld: your role cannot read the analysis channel]';
/** Stands in for each token inside a withheld span, so token alignment and routing stay intact. */
export const WITHHELD_TOKEN = '\u2591';

export interface RedactableMessage {
  role: string;
  channel: string | null;
  content: string;
  tokenStart: number;
  tokenEnd: number;
}

export type RedactedMessage = TraceMessage & { withheld: boolean };

/** Header words a withheld message may still show: the harmony vocabulary, nothing the model made up. */
const KNOWN_ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const KNOWN_CHANNELS: ReadonlySet<string> = new Set(['analysis', 'commentary', 'final']);

/** A reader-safe copy: only TraceMessage fields, header words outside the harmony vocabulary dropped. */
function viewerMessage(message: TraceMessage, withheld: boolean): RedactedMessage {
  return {
    role: KNOWN_ROLES.has(message.role) ? message.role : 'unknown',
    channel: message.channel !== null && KNOWN_CHANNELS.has(message.channel) ? message.channel : null,
    recipient: null,
    contentType: null,
    content: withheld ? WITHHELD_TEXT : message.content,
    tokenStart: message.tokenStart,
    tokenEnd: message.tokenEnd,
    complete: message.complete,
    withheld,
  };
}

export function redactMessages(messages: TraceMessage[], identity: Identity, promptLength: number): RedactedMessage[] {
  if (canReadRawReasoning(identity)) return messages.map((message) => ({ ...message, withheld: false }));
  return messages.map((message) => viewerMessage(message, !isPlainlyVisible(message, promptLength)));
}

/** Token indices whose text the identity may not see: every token not inside a plainly visible message. */
export function withheldTokenMask(messages: RedactableMessage[], numTokens: number, identity: Identity, promptLength: number): Uint8Array {
  const mask = new Uint8Array(numTokens);
  if (canReadRawReasoning(identity)) return mask;
  mask.fill(1);
  for (const message of messages) {
    if (isPlainlyVisible(message, promptLength)) mask.fill(0, Math.max(0, message.tokenStart), Math.min(numTokens, message.tokenEnd));
  }
  return mask;
}

export function redactTokenTexts(tokenTexts: string[], messages: RedactableMessage[], identity: Identity, promptLength: number): string[] {
  const mask = withheldTokenMask(messages, tokenTexts.length, identity, promptLength);
  return tokenTexts.map((text, index) => (mask[index] ? WITHHELD_TOKEN : text));
}

/**
 * Review records that quote raw reasoning (an annotation's selected text and note, a verdict's
 * rationale, revision snapshots): the quoting fields come back null for readers who may not read it.
 */
export function redactQuotingFields<T extends object, K extends keyof T>(record: T, fields: readonly K[], identity: Identity): T {
  if (canReadRawReasoning(identity)) return record;
  const copy = { ...record };
  for (const field of fields) copy[field] = null as T[K];
  return copy;
}
