import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HarmonyStreamParser, parseTokens, type ParsedMessage } from '../../../lib/harmony/parser';
import { functionCall, functionResult, renderConversation, type HarmonyMessage } from '../../../lib/harmony/render';
import { encode } from '../../../lib/harmony/tokenizer';

const withSpecials = (text: string): number[] => encode(text, { allowSpecial: true });
const plain = (text: string): number[] => encode(text, { allowSpecial: false });

/** Spans must tile [0, tokenCount): contiguous, in order, each token in exactly one message. */
function assertSpansCoverEveryToken(messages: readonly ParsedMessage[], tokenCount: number): void {
  let expectedStart = 0;
  for (const message of messages) {
    assert.equal(message.tokenStart, expectedStart, `message ${JSON.stringify(message)} starts where the previous ended`);
    assert.ok(message.tokenEnd > message.tokenStart, 'no empty spans');
    expectedStart = message.tokenEnd;
  }
  assert.equal(expectedStart, tokenCount);
}

function fields(message: ParsedMessage): Partial<ParsedMessage> {
  const { role, name, channel, recipient, contentType, content, complete, terminator } = message;
  return { role, name, channel, recipient, contentType, content, complete, terminator };
}

test('render then parse gives back every message of a conversation with analysis, final and a tool call', () => {
  const history: HarmonyMessage[] = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', channel: 'analysis', content: 'Need the tool.' },
    functionCall('get_weather', '{"city":"Paris"}'),
    functionResult('get_weather', '{"temp":18}'),
    { role: 'assistant', channel: 'final', content: 'It is 18 °C.' },
  ];
  const ids = renderConversation({ system: { reasoningEffort: 'high' }, messages: history }, { forCompletion: false, dropAnalysis: false });
  const parsed = parseTokens(ids);
  assertSpansCoverEveryToken(parsed, ids.length);
  assert.equal(parsed[0].role, 'system');
  assert.ok(parsed[0].content.includes('Reasoning: high'));
  assert.deepEqual(parsed.slice(1).map(fields), [
    { role: 'user', name: null, channel: null, recipient: null, contentType: null, content: 'Weather in Paris?', complete: true, terminator: 'end' },
    { role: 'assistant', name: null, channel: 'analysis', recipient: null, contentType: null, content: 'Need the tool.', complete: true, terminator: 'end' },
    { role: 'assistant', name: null, channel: 'commentary', recipient: 'functions.get_weather', contentType: 'json', content: '{"city":"Paris"}', complete: true, terminator: 'call' },
    { role: 'tool', name: 'functions.get_weather', channel: 'commentary', recipient: 'assistant', contentType: null, content: '{"temp":18}', complete: true, terminator: 'end' },
    { role: 'assistant', name: null, channel: 'final', recipient: null, contentType: null, content: 'It is 18 °C.', complete: true, terminator: 'end' },
  ]);
  assert.equal(parsed[3].constrained, true);
});

test('parsed messages render back to the same tokens', () => {
  const ids = renderConversation(
    [{ role: 'user', content: 'hi' }, { role: 'assistant', channel: 'analysis', content: 'x' }, functionCall('f', '{}'), functionResult('f', 'ok')],
    { forCompletion: false },
  );
  assert.deepEqual(renderConversation(parseTokens(ids) as HarmonyMessage[], { forCompletion: false }), ids);
});

test('the recipient is read both after the role and after the channel', () => {
  const recipientFirst = withSpecials('<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json<|message|>{"a":1}<|call|>');
  const channelFirst = withSpecials('<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a":1}<|call|>');
  for (const ids of [recipientFirst, channelFirst]) {
    const [message] = parseTokens(ids);
    assert.deepEqual(fields(message), {
      role: 'assistant', name: null, channel: 'commentary', recipient: 'functions.f', contentType: 'json',
      content: '{"a":1}', complete: true, terminator: 'call',
    });
    assert.equal(message.constrained, true);
  }
});

test('a plain-word content type is kept without the constrain flag', () => {
  const [message] = parseTokens(withSpecials('<|start|>assistant<|channel|>analysis to=python code<|message|>print(1)<|call|>'));
  assert.equal(message.recipient, 'python');
  assert.equal(message.contentType, 'code');
  assert.equal(message.constrained, false);
});

/** The spec §5.4 streaming example, with literal ids for the header tokens. */
function specGeneratedStream(): { prompt: number[]; generated: number[] } {
  const prompt = renderConversation({ messages: [{ role: 'user', content: 'What is 2 + 2?' }] });
  const generated = [
    200005, 35644, 200008, ...plain('Simple arithmetic.'), 200007,
    200006, 173781,
    200005, 17196, 200008, ...plain('4'), 200002,
  ];
  return { prompt, generated };
}

test('prompt and generated tokens parsed together: the analysis message starts at the prefill <|start|>', () => {
  const { prompt, generated } = specGeneratedStream();
  const all = [...prompt, ...generated];
  const parsed = parseTokens(all);
  assertSpansCoverEveryToken(parsed, all.length);
  const [analysis, final] = parsed.slice(-2);
  assert.deepEqual(fields(analysis), {
    role: 'assistant', name: null, channel: 'analysis', recipient: null, contentType: null, content: 'Simple arithmetic.', complete: true, terminator: 'end',
  });
  assert.equal(analysis.tokenStart, prompt.length - 2);
  assert.deepEqual(fields(final), {
    role: 'assistant', name: null, channel: 'final', recipient: null, contentType: null, content: '4', complete: true, terminator: 'return',
  });
  assert.equal(final.tokenEnd, all.length);
});

test('generated tokens alone parse when the parser starts inside the prefilled assistant header', () => {
  const { prompt, generated } = specGeneratedStream();
  const parsed = parseTokens(generated, { startInHeaderWithRole: 'assistant', firstTokenIndex: prompt.length });
  assert.deepEqual(parsed.map((message) => [message.role, message.channel, message.content, message.tokenStart, message.tokenEnd]), [
    ['assistant', 'analysis', 'Simple arithmetic.', prompt.length, prompt.length + 3 + plain('Simple arithmetic.').length + 1],
    ['assistant', 'final', '4', prompt.length + 3 + plain('Simple arithmetic.').length + 1, prompt.length + generated.length],
  ]);
});

test('an unterminated message is kept with complete=false and its content so far', () => {
  const ids = withSpecials('<|start|>assistant<|channel|>final<|message|>Half an ans');
  const [message] = parseTokens(ids);
  assert.deepEqual(fields(message), {
    role: 'assistant', name: null, channel: 'final', recipient: null, contentType: null, content: 'Half an ans', complete: false, terminator: null,
  });
  assertSpansCoverEveryToken([message], ids.length);
});

test('an unknown channel is kept as its literal string', () => {
  const [message] = parseTokens(withSpecials('<|start|>assistant<|channel|>musings<|message|>hmm<|end|>'));
  assert.equal(message.channel, 'musings');
  assert.equal(message.complete, true);
});

test('garbage before the first <|start|> becomes an unknown message covering exactly those tokens', () => {
  const garbage = withSpecials('noise<|end|>more');
  const ids = [...garbage, ...withSpecials('<|start|>user<|message|>hi<|end|>')];
  const parsed = parseTokens(ids);
  assertSpansCoverEveryToken(parsed, ids.length);
  assert.deepEqual(fields(parsed[0]), {
    role: 'unknown', name: null, channel: null, recipient: null, contentType: null, content: 'noise<|end|>more', complete: false, terminator: null,
  });
  assert.equal(parsed[0].tokenEnd, garbage.length);
  assert.equal(parsed[1].content, 'hi');
});

test('a <|start|> inside content cuts the open message off as incomplete without losing tokens', () => {
  const ids = withSpecials('<|start|>assistant<|channel|>analysis<|message|>abc<|start|>assistant<|channel|>final<|message|>d<|return|>trailing');
  const parsed = parseTokens(ids);
  assertSpansCoverEveryToken(parsed, ids.length);
  assert.deepEqual(parsed.map((message) => [message.channel, message.content, message.complete, message.role]), [
    ['analysis', 'abc', false, 'assistant'],
    ['final', 'd', true, 'assistant'],
    [null, 'trailing', false, 'unknown'],
  ]);
});

test('a terminator before <|message|> closes a malformed message that keeps its tokens', () => {
  const ids = withSpecials('<|start|>assistant<|channel|>final<|end|><|start|>user<|message|>x<|end|>');
  const parsed = parseTokens(ids);
  assertSpansCoverEveryToken(parsed, ids.length);
  assert.deepEqual([parsed[0].channel, parsed[0].complete, parsed[0].terminator, parsed[0].tokenEnd], ['final', false, 'end', 5]);
});

/** Small deterministic PRNG so the random streams are reproducible. */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random token streams never throw and their spans cover every token exactly once', () => {
  const random = mulberry32(1234);
  const vocabulary = [200002, 200003, 200005, 200006, 200007, 200008, 200012, 199999, 200100, ...plain('assistant to=functions.f analysis final json 🦜 é')];
  for (let trial = 0; trial < 300; trial++) {
    const length = Math.floor(random() * 40);
    const ids = Array.from({ length }, () => vocabulary[Math.floor(random() * vocabulary.length)]);
    const parsed = parseTokens(ids);
    assertSpansCoverEveryToken(parsed, ids.length);
  }
});

test('the streaming parser shows the message in progress and completes it on the terminator', () => {
  const parser = new HarmonyStreamParser();
  parser.pushAll(withSpecials('<|start|>assistant<|channel|>final<|message|>'));
  for (const id of plain('Hello world')) parser.push(id);
  assert.equal(parser.currentMessage?.content, 'Hello world');
  assert.equal(parser.currentMessage?.complete, false);
  assert.equal(parser.completedMessages.length, 0);
  parser.push(200002);
  assert.equal(parser.currentMessage, null);
  assert.deepEqual(parser.completedMessages.map(fields), [
    { role: 'assistant', name: null, channel: 'final', recipient: null, contentType: null, content: 'Hello world', complete: true, terminator: 'return' },
  ]);
});

test('a multi-byte character split across content tokens appears whole, never as replacement characters', () => {
  const parser = new HarmonyStreamParser();
  parser.pushAll(withSpecials('<|start|>assistant<|channel|>final<|message|>'));
  const parrot = plain('🦜');
  assert.ok(parrot.length > 1, 'the parrot emoji must span several tokens for this test');
  const snapshots: string[] = [];
  for (const id of parrot) {
    parser.push(id);
    snapshots.push(parser.currentMessage?.content ?? '');
  }
  assert.ok(snapshots.every((snapshot) => !snapshot.includes('\uFFFD')), JSON.stringify(snapshots));
  assert.equal(snapshots.at(-1), '🦜');
  parser.push(200007);
  assert.equal(parser.completedMessages[0].content, '🦜');
});

test('ids outside the vocabulary are rejected with an error naming the id', () => {
  assert.throws(() => parseTokens([200006, 999999]), /999999/);
});
