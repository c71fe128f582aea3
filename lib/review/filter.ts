/**
 * Raw chain of thought -> filtered reasoning, the text a viewer may read. The policy filter redacts
 * what its rules file names (lib/review/rules.ts, detectors.ts) from the trace's analysis messages;
 * each redaction records its category, rule, character span (in the raw reasoning text, see
 * `reasoningText`) and token span (in the trace's tokens). Pure: storing it is lib/review/store.ts.
 */
import type { TraceMessage } from '../trace/types';
import { isAnalysisMessage } from '../trace/visibility';
import { CALL, END, MESSAGE, RETURN } from '../harmony/special-tokens';
import { StreamingDecoder } from '../harmony/tokenizer';
import {
  disjointSpans, emailAddresses, highEntropyStrings, ipAddresses, knownSecrets, lexicon, paymentCards, pattern, phoneNumbers, promptLeaks, type Span,
} from './detectors';
import { filterVersion, type FilterRules } from './rules';
import { applyRedactions, MESSAGE_SEPARATOR, reasoningText, type RedactionSpan } from './segments';

export { reasoningText, MESSAGE_SEPARATOR, redactionMarker, applyRedactions } from './segments';

/** One redaction: [charStart, charEnd) in the raw reasoning text (`reasoningText`), [tokenStart, tokenEnd) in the trace's tokens. */
export type Redaction = RedactionSpan;

export interface FilterIdentity {
  name: string;
  version: string;
}

export interface ModelSummary {
  text: string;
  model: string;
  /** True when the model is a generated one with random weights: its summary is not language. */
  generatedModel: boolean;
  prompt: string;
  settings: Record<string, unknown>;
}

export interface FilteredReasoning {
  filter: FilterIdentity;
  text: string;
  redactions: Redaction[];
  /** False when computed for this response because the store holds no output of this filter version yet. */
  stored: boolean;
  summary: ModelSummary | null;
}

export interface FilterInput {
  messages: TraceMessage[];
  tokens: number[];
  /** The trace's own system and developer text, for leak detection. */
  promptSources: string[];
}

const TERMINATORS = new Set([END, RETURN, CALL]);

/** Where each content token of a message starts in its text; null when the tokens do not decode to the stored text. */
export function contentTokenOffsets(message: TraceMessage, tokens: number[]): { token: number; charStart: number }[] | null {
  const header = tokens.slice(message.tokenStart, message.tokenEnd).indexOf(MESSAGE);
  if (header < 0) return null;
  const decoder = new StreamingDecoder();
  const offsets: { token: number; charStart: number }[] = [];
  let length = 0;
  for (let t = message.tokenStart + header + 1; t < Math.min(message.tokenEnd, tokens.length); t++) {
    if (TERMINATORS.has(tokens[t]) || tokens[t] < 0) break;
    offsets.push({ token: t, charStart: length });
    length += decoder.push(tokens[t]).length;
  }
  length += decoder.flush().length;
  return length === message.content.length ? offsets : null;
}

/** Token span of the message-local char span [start, end): the tokens whose text overlaps it. */
export function tokenSpan(message: TraceMessage, offsets: { token: number; charStart: number }[] | null, start: number, end: number): [number, number] {
  if (!offsets || offsets.length === 0) return [message.tokenStart, message.tokenEnd];
  let first = offsets[0].token;
  let last = offsets[offsets.length - 1].token + 1;
  for (const offset of offsets) {
    if (offset.charStart <= start) first = offset.token;
    if (offset.charStart >= end) { last = offset.token; break; }
  }
  return [first, Math.max(last, first + 1)];
}

function detectorsOf(rules: FilterRules, promptSources: string[]): ((text: string) => Span[])[] {
  const { pii } = rules;
  return [
    ...(pii.email ? [emailAddresses] : []),
    ...(pii.phone ? [phoneNumbers] : []),
    ...(pii.paymentCard ? [paymentCards] : []),
    ...(pii.secrets ? [knownSecrets] : []),
    ...(pii.secrets && rules.highEntropy ? [highEntropyStrings(rules.highEntropy)] : []),
    ...(pii.ipAddress ? [ipAddresses] : []),
    ...(rules.promptLeak ? [promptLeaks(promptSources, rules.promptLeak.minWords)] : []),
    ...rules.lexicons.map((entry) => lexicon(entry.category, entry.ruleId, entry.terms)),
    ...rules.patterns.map((entry) => pattern(entry.category, entry.ruleId, entry.regex, entry.flags.includes('u') ? entry.flags : `${entry.flags}u`)),
  ];
}

export function policyFilter(rules: FilterRules): { identity: FilterIdentity; run(input: FilterInput): Omit<FilteredReasoning, 'stored' | 'summary'> } {
  const identity = { name: rules.name, version: filterVersion(rules) };
  return {
    identity,
    run(input) {
      const detectors = detectorsOf(rules, input.promptSources);
      const redactions: Redaction[] = [];
      let offset = 0;
      for (const message of input.messages.filter(isAnalysisMessage)) {
        const spans = disjointSpans(detectors.flatMap((detect) => detect(message.content)));
        const offsets = spans.length > 0 ? contentTokenOffsets(message, input.tokens) : null;
        for (const span of spans) {
          const [tokenStart, tokenEnd] = tokenSpan(message, offsets, span.start, span.end);
          redactions.push({ category: span.category, ruleId: span.ruleId, charStart: offset + span.start, charEnd: offset + span.end, tokenStart, tokenEnd });
        }
        offset += message.content.length + MESSAGE_SEPARATOR.length;
      }
      const text = applyRedactions(reasoningText(input.messages), redactions);
      return { filter: identity, text, redactions };
    },
  };
}
