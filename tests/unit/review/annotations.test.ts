/**
 * Token span -> message, character span and text, as the server derives them: the text is exactly
 * the message text under those tokens, a span must lie inside the content of one analysis message,
 * and a trace's taxonomy is the union of its collections' (the default for none).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderConversation } from '../../../lib/harmony/render';
import { parseTokens } from '../../../lib/harmony/parser';
import { decode, encode } from '../../../lib/harmony/tokenizer';
import { resolveSpan } from '../../../lib/review/annotations';
import { ReviewError } from '../../../lib/review/errors';
import { contentTokenOffsets } from '../../../lib/review/filter';
import { DEFAULT_TAXONOMY, traceTaxonomy } from '../../../lib/review/taxonomy';

const ANALYSIS = 'First, naïve plan: tell them 🙂 nothing.';
const SECOND = 'Second thought here.';
const promptIds = renderConversation({ system: { reasoningEffort: 'low' }, developer: null, messages: [{ role: 'user', content: 'Go.' }] });
const tokens = [...promptIds, ...encode(
  `<|channel|>analysis<|message|>${ANALYSIS}<|end|><|start|>assistant<|channel|>analysis<|message|>${SECOND}<|end|><|start|>assistant<|channel|>final<|message|>Ok.<|return|>`,
  { allowSpecial: true })];
const messages = parseTokens(tokens);
const first = messages.findIndex((message) => message.content === ANALYSIS);
const offsets = contentTokenOffsets(messages[first], tokens)!;
const [start, end] = [offsets[0].token, offsets[offsets.length - 1].token + 1];

const rejected = (tokenStart: number, tokenEnd: number, pattern: RegExp) =>
  assert.throws(() => resolveSpan(messages, tokens, tokenStart, tokenEnd), (error: unknown) => error instanceof ReviewError && error.status === 400 && pattern.test(error.message));

test('the text of every token span is the message text those tokens decode to (multi-byte characters included)', () => {
  for (let a = start; a < end; a++) {
    for (let b = a + 1; b <= end; b++) {
      const span = resolveSpan(messages, tokens, a, b);
      assert.equal(span.messageIndex, first);
      assert.equal(span.text, ANALYSIS.slice(span.charStart, span.charEnd));
      if (!decode(tokens.slice(a, b)).includes('\uFFFD')) assert.equal(span.text, decode(tokens.slice(a, b)), `tokens [${a}, ${b})`);
    }
  }
  assert.deepEqual(resolveSpan(messages, tokens, start, end), { messageIndex: first, charStart: 0, charEnd: ANALYSIS.length, text: ANALYSIS });
});

test('a span outside analysis content, across two messages or empty is refused with a 400 naming the field', () => {
  rejected(0, 2, /^tokenStart: .*not in an analysis-channel message/);
  rejected(start - 1, start + 1, /^tokenEnd: .*inside the content of one analysis message/);
  rejected(end - 1, end + 2, /^tokenEnd: /);
  const final = messages.findIndex((message) => message.channel === 'final');
  rejected(messages[final].tokenStart + 3, messages[final].tokenStart + 4, /not in an analysis-channel message/);
  rejected(start + 2, start + 2, /tokenStart < tokenEnd/);
});

test('a message whose tokens do not decode to its stored text takes no span', () => {
  const tampered = messages.map((message, index) => (index === first ? { ...message, content: `${message.content}!` } : message));
  assert.throws(() => resolveSpan(tampered, tokens, start, start + 1), /no content tokens that decode to its stored text/);
});

test("a trace's taxonomy: the default for no collection, else the union of its collections' (default where one has none)", () => {
  assert.deepEqual(traceTaxonomy([]), DEFAULT_TAXONOMY);
  const own = [{ key: 'jailbreak', name: 'Jailbreak' }, { key: 'other', name: 'Something else' }];
  assert.deepEqual(traceTaxonomy([{ name: 'b', taxonomy: own }]).map((label) => label.key), ['jailbreak', 'other']);
  const union = traceTaxonomy([{ name: 'b', taxonomy: own }, { name: 'a', taxonomy: null }]);
  assert.deepEqual(union.map((label) => label.key), [...DEFAULT_TAXONOMY.map((label) => label.key), 'jailbreak']);
  assert.equal(union.find((label) => label.key === 'other')!.name, 'Other', 'collection a sorts first: its name for a shared key wins');
});
