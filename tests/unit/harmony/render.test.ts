import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode as libraryEncode } from 'gpt-tokenizer/encoding/o200k_harmony';
import {
  developerMessageText,
  functionCall,
  functionResult,
  renderConversation,
  renderToString,
  type Conversation,
  type HarmonyMessage,
} from '../../../lib/harmony/render';
import { schemaToTypeScript } from '../../../lib/harmony/tool-schema';

// Literal ids from the spec §5.1 table, deliberately not imported from lib/harmony.
const START = 200006;
const END = 200007;
const MESSAGE = 200008;
const CHANNEL = 200005;
const CONSTRAIN = 200003;
const CALL = 200012;

/** The spec §5.3 example prompt, with ↵ written as \n. */
const SPEC_EXAMPLE_PROMPT =
  '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: low\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|><|start|>developer<|message|># Instructions\n\nAnswer tersely.<|end|><|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant';

const specExample: Conversation = {
  system: { currentDate: '2025-08-05', reasoningEffort: 'low' },
  developer: { instructions: 'Answer tersely.' },
  messages: [{ role: 'user', content: 'What is 2 + 2?' }],
};

test('the spec §5.3 example conversation renders to the spec string', () => {
  assert.equal(renderToString(specExample), SPEC_EXAMPLE_PROMPT);
});

test('the spec §5.3 example renders to text pieces encoded by gpt-tokenizer joined by the special ids', () => {
  const systemText =
    'You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: low\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.';
  const expected = [
    START, ...libraryEncode('system'), MESSAGE, ...libraryEncode(systemText), END,
    START, ...libraryEncode('developer'), MESSAGE, ...libraryEncode('# Instructions\n\nAnswer tersely.'), END,
    START, ...libraryEncode('user'), MESSAGE, ...libraryEncode('What is 2 + 2?'), END,
    START, 173781,
  ];
  assert.deepEqual(renderConversation(specExample), expected);
});

test('system defaults are medium reasoning, the 2024-06 cutoff and no date line', () => {
  const text = renderToString({ messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(text.startsWith(
    '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels:',
  ));
});

test('system null and a flat message list render no system message', () => {
  const messages: HarmonyMessage[] = [{ role: 'user', content: 'hi' }];
  const expected = '<|start|>user<|message|>hi<|end|><|start|>assistant';
  assert.equal(renderToString({ system: null, messages }), expected);
  assert.equal(renderToString(messages), expected);
});

const weatherTools: Conversation = {
  system: { currentDate: '2025-06-28', reasoningEffort: 'high' },
  developer: {
    instructions: 'Use a friendly tone.',
    functionTools: [
      { name: 'get_location', description: 'Gets the location of the user.' },
      {
        name: 'get_current_weather',
        description: 'Gets the current weather in the provided location.',
        parameters: {
          type: 'object',
          properties: {
            location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
            format: { type: 'string', enum: ['celsius', 'fahrenheit'], default: 'celsius' },
          },
          required: ['location'],
        },
      },
    ],
  },
  messages: [{ role: 'user', content: 'Weather in SF?' }],
};

test('function tools add the commentary line to the system message and a TypeScript namespace to the developer message', () => {
  const expected =
    '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-06-28\n\nReasoning: high\n\n' +
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.\nCalls to these tools must go to the commentary channel: 'functions'.<|end|>" +
    '<|start|>developer<|message|># Instructions\n\nUse a friendly tone.\n\n# Tools\n\n## functions\n\nnamespace functions {\n\n' +
    '// Gets the location of the user.\ntype get_location = () => any;\n\n' +
    '// Gets the current weather in the provided location.\ntype get_current_weather = (_: {\n' +
    '// The city and state, e.g. San Francisco, CA\nlocation: string,\nformat?: "celsius" | "fahrenheit", // default: celsius\n}) => any;\n\n' +
    '} // namespace functions<|end|><|start|>user<|message|>Weather in SF?<|end|><|start|>assistant';
  assert.equal(renderToString(weatherTools), expected);
});

test('schema types: numbers, booleans, arrays, nested objects, quoted string defaults and JSON defaults', () => {
  const typeText = schemaToTypeScript({
    type: 'object',
    properties: {
      count: { type: 'integer', default: 3 },
      exact: { type: 'boolean' },
      tags: { type: 'array', items: { type: 'string' }, description: 'Labels' },
      unit: { type: 'string', default: 'metric' },
      where: { type: 'object', description: 'A place', properties: { lat: { type: 'number' } }, required: ['lat'] },
      either: { type: ['string', 'integer'] },
      anything: {},
    },
    required: ['exact'],
  });
  const expected =
    '{\n' +
    'count?: number, // default: 3\n' +
    'exact: boolean,\n' +
    '// Labels\ntags?: string[],\n' +
    'unit?: string, // default: "metric"\n' +
    '// A place\nwhere?:     // A place\n{\n    lat: number,\n    },\n' +
    'either?: string | number,\n' +
    'anything?: any,\n' +
    '}';
  assert.equal(typeText, expected);
});

test('a oneOf property lists its variants as a union, one per line, with the property description above', () => {
  const typeText = schemaToTypeScript({
    type: 'object',
    properties: { target: { description: 'Where', oneOf: [{ type: 'string', description: 'A name' }, { type: 'number', default: 1 }] } },
  });
  assert.equal(typeText, '{\n// Where\ntarget?:\n | string\n | number // default: 1\n,\n}');
});

test('developer message with instructions only has no tools section', () => {
  assert.equal(developerMessageText({ instructions: 'Be brief.' }), '# Instructions\n\nBe brief.');
});

test('a tool call is written with the recipient after the role, <|constrain|>json and <|call|>; its result goes to=assistant', () => {
  const messages: HarmonyMessage[] = [
    { role: 'user', content: 'Weather?' },
    functionCall('get_weather', '{"city":"SF"}'),
    functionResult('get_weather', '{"temp":20}'),
  ];
  const ids = renderConversation(messages);
  const expected = [
    START, ...libraryEncode('user'), MESSAGE, ...libraryEncode('Weather?'), END,
    START, 173781, ...libraryEncode(' to=functions.get_weather'), CHANNEL, ...libraryEncode('commentary'),
    ...libraryEncode(' '), CONSTRAIN, ...libraryEncode('json'), MESSAGE, ...libraryEncode('{"city":"SF"}'), CALL,
    START, ...libraryEncode('functions.get_weather'), ...libraryEncode(' to=assistant'), CHANNEL, ...libraryEncode('commentary'),
    MESSAGE, ...libraryEncode('{"temp":20}'), END,
    START, 173781,
  ];
  assert.deepEqual(ids, expected);
  assert.equal(
    renderToString(messages),
    '<|start|>user<|message|>Weather?<|end|>' +
      '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"SF"}<|call|>' +
      '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"temp":20}<|end|><|start|>assistant',
  );
});

test('message content that looks like a special token is rendered as plain text', () => {
  const ids = renderConversation([{ role: 'user', content: 'fake <|end|> token' }], { forCompletion: false });
  assert.equal(ids.filter((id) => id === END).length, 1);
});

const finishedTurn: HarmonyMessage[] = [
  { role: 'user', content: 'Q1' },
  { role: 'assistant', channel: 'analysis', content: 'thinking one' },
  { role: 'assistant', channel: 'final', content: 'A1' },
  { role: 'user', content: 'Q2' },
];

test('analysis of a turn that ended with a final answer is dropped from the next prompt, the final kept with <|end|>', () => {
  assert.equal(
    renderToString(finishedTurn),
    '<|start|>user<|message|>Q1<|end|><|start|>assistant<|channel|>final<|message|>A1<|end|><|start|>user<|message|>Q2<|end|><|start|>assistant',
  );
});

test('analysis since the last final answer is kept while a tool call is in progress', () => {
  const ongoing: HarmonyMessage[] = [
    ...finishedTurn,
    { role: 'assistant', channel: 'analysis', content: 'need the tool' },
    functionCall('lookup', '{}'),
    functionResult('lookup', '42'),
  ];
  const text = renderToString(ongoing);
  assert.ok(!text.includes('thinking one'));
  assert.ok(text.includes('<|start|>assistant<|channel|>analysis<|message|>need the tool<|end|><|start|>assistant to=functions.lookup'));
});

test('dropAnalysis false keeps every chain of thought', () => {
  assert.ok(renderToString(finishedTurn, { dropAnalysis: false }).includes('<|channel|>analysis<|message|>thinking one<|end|>'));
});

test('forCompletion false leaves out the assistant prefill', () => {
  assert.ok(renderToString(finishedTurn, { forCompletion: false }).endsWith('Q2<|end|>'));
});

test('bad input names what is wrong', () => {
  assert.throws(() => renderConversation([{ role: 'tool', content: 'x' }]), /Message 0 has role "tool" but no tool name/);
  assert.throws(() => renderConversation({ system: { currentDate: '5 Aug 2025' }, messages: [] }), /currentDate must be YYYY-MM-DD, got "5 Aug 2025"/);
});
