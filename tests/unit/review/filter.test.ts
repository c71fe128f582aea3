/**
 * The policy filter, per category: true positives that must be redacted and a corpus of near misses
 * that must not be; token spans align with the trace's tokens; markers name the category.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emailAddresses, entropyBitsPerChar, highEntropyStrings, ipAddresses, knownSecrets, luhnValid, paymentCards, phoneNumbers, promptLeaks, lexicon, disjointSpans, type Span } from '../../../lib/review/detectors';
import { policyFilter } from '../../../lib/review/filter';
import { activeRules, filterVersion, parseRules } from '../../../lib/review/rules';
import { diffSegments, filteredSegments, reasoningText } from '../../../lib/review/segments';
import { renderConversation } from '../../../lib/harmony/render';
import { parseTokens } from '../../../lib/harmony/parser';
import { decode } from '../../../lib/harmony/tokenizer';

const found = (detect: (text: string) => Span[], text: string) => detect(text).map((span) => text.slice(span.start, span.end));

function checkCategory(name: string, detect: (text: string) => Span[], positives: [string, string][], nearMisses: string[]) {
  test(`${name}: true positives are found exactly`, () => {
    for (const [text, expected] of positives) assert.deepEqual(found(detect, text), [expected], `in ${JSON.stringify(text)}`);
  });
  test(`${name}: near misses are left alone`, () => {
    for (const text of nearMisses) assert.deepEqual(found(detect, text), [], `false positive in ${JSON.stringify(text)}`);
  });
}

checkCategory('e-mail', emailAddresses, [
  ['write to jane.doe@example.com today', 'jane.doe@example.com'],
  ['<ops+alerts@mail.corp.example.org>', 'ops+alerts@mail.corp.example.org'],
  ['ID: A_B-9@sub-domain.co.uk.', 'A_B-9@sub-domain.co.uk'],
], ['user@localhost', 'the @handle on social', 'a @ b . com', 'email me at jane(at)example(dot)com', 'decorator @property.setter', 'x@y']);

checkCategory('phone number', phoneNumbers, [
  ['call +1 415-555-0132 now', '+1 415-555-0132'],
  ['office (030) 1234 5678', '(030) 1234 5678'],
  ['dial 020 7946 0958.', '020 7946 0958'],
  ['+44 20 7946 0958', '+44 20 7946 0958'],
], ['on 2024-01-15 we met', 'version 10.4.1.2', 'order 12345678901234', 'ratio 3-4-5', 'ISBN 978-3-16-148410-0', 'at 12:30:45', 'in 1999 and 2005 and 2010']);

test('payment card: Luhn check', () => {
  assert.equal(luhnValid('4111111111111111'), true);
  assert.equal(luhnValid('4111111111111112'), false);
});
checkCategory('payment card', paymentCards, [
  ['card 4111 1111 1111 1111 exp 12/30', '4111 1111 1111 1111'],
  ['amex 378282246310005.', '378282246310005'],
  ['mc 5555-5555-5555-4444', '5555-5555-5555-4444'],
], ['card 4111 1111 1111 1112', 'order 1234567890123456', 'zeros 0000000000000000', 'phone 415 555 0132', '12 digits 123456789012']);

checkCategory('secret (known prefixes)', knownSecrets, [
  ['key sk-proj-abcdefghijklmnopqrstuvwxyz012345 here', 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'],
  ['token ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ12', 'ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ12'],
  ['aws AKIAIOSFODNN7EXAMPLE ok', 'AKIAIOSFODNN7EXAMPLE'],
  ['slack xoxb-1234567890-abcdefghij', 'xoxb-1234567890-abcdefghij'],
], ['a task-list item', 'ghp_short', 'AKIA is a prefix', 'risk-assessment of sk-learn', 'xoxo hugs']);

checkCategory('secret (high entropy)', highEntropyStrings({ minLength: 24, minBitsPerChar: 4 }), [
  ['password Zq8xP2mVt7Lr4Kw9Nb3Yc6Hd is set', 'Zq8xP2mVt7Lr4Kw9Nb3Yc6Hd'],
  ['blob aGVsbG8gd29ybGQgdGhpcyBpcyBhIHRlc3Q1 end', 'aGVsbG8gd29ybGQgdGhpcyBpcyBhIHRlc3Q1'],
], [
  'commit 3f786850e387550fdab836ed7e6dc881de23001b', 'supercalifragilisticexpialidocious words', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1',
  'path /usr/local/lib/node_modules/typescript', 'Antidisestablishmentarianism123',
]);

test('entropy is measured in bits per character', () => {
  assert.equal(entropyBitsPerChar('aaaa'), 0);
  assert.equal(entropyBitsPerChar('abcd'), 2);
});

checkCategory('IP address', ipAddresses, [
  ['server 192.168.1.20 answered', '192.168.1.20'],
  ['from 8.8.8.8.', '8.8.8.8'],
  ['v6 2001:db8:85a3::8a2e:370:7334 up', '2001:db8:85a3::8a2e:370:7334'],
  ['full fe80:0000:0000:0000:0202:b3ff:fe1e:8329', 'fe80:0000:0000:0000:0202:b3ff:fe1e:8329'],
], ['version 1.2.3', 'pi 3.14.159.265', 'address 10.0.0.256', 'semver 1.2.3.4.5', 'time 12:30:45', 'std::vector', 'a::b']);

test('system prompt leak: a run of at least minWords words of the system or developer text is found, shorter or paraphrased ones are not', () => {
  const detect = promptLeaks(['You are Orion. Never reveal the launch code word to anyone who asks for it.'], 8);
  assert.deepEqual(found(detect, 'The developer said: never reveal the launch code word to anyone who asks. So I will not.'),
    ['never reveal the launch code word to anyone who asks']);
  assert.deepEqual(found(detect, 'I should never reveal the launch code word.'), [], 'seven words are not a leak');
  assert.deepEqual(found(detect, 'I must not disclose the secret launch code to people.'), [], 'a paraphrase is not a leak');
});

checkCategory('user lexicon', lexicon('weapons', 'lexicon.weapons', ['nerve agent', 'sarin']), [
  ['making a Nerve Agent at home', 'Nerve Agent'],
  ['sarin.', 'sarin'],
], ['sarinas are pretty', 'nerve agents2x', 'a nervous agent']);

test('overlapping spans become disjoint, the first one winning', () => {
  const spans = disjointSpans([
    { start: 0, end: 10, category: 'a', ruleId: 'x' }, { start: 5, end: 8, category: 'b', ruleId: 'y' }, { start: 8, end: 14, category: 'c', ruleId: 'z' },
  ]);
  assert.deepEqual(spans.map((span) => [span.start, span.end, span.category]), [[0, 10, 'a'], [10, 14, 'c']]);
});

const SYSTEM = 'Internal codename Bluebird. Do not mention the codename Bluebird or the staging server address to users.';
const ANALYSIS = 'User asks. Email jane@example.com, card 4111 1111 1111 1111, host 10.1.2.3. Do not mention the codename Bluebird or the staging server address. Done.';

function fixture() {
  const tokens = renderConversation([
    { role: 'developer', content: SYSTEM },
    { role: 'user', content: 'hi' },
    { role: 'assistant', channel: 'analysis', content: ANALYSIS },
    { role: 'assistant', channel: 'final', content: 'Hello.' },
  ], { forCompletion: false, dropAnalysis: false });
  return { tokens, messages: parseTokens(tokens) };
}

test('the policy filter redacts every category with its marker, recording category, rule, char span and token span', () => {
  const { tokens, messages } = fixture();
  const output = policyFilter(activeRules({})).run({ messages, tokens, promptSources: [SYSTEM] });
  assert.deepEqual(output.redactions.map((r) => r.category), ['e-mail', 'payment card', 'IP address', 'system prompt']);
  assert.match(output.text, /Email \[private data: e-mail\], card \[private data: payment card\], host \[private data: IP address\]\. \[private data: system prompt\]/);
  assert.ok(!output.text.includes('jane@') && !output.text.includes('Bluebird'));
  const raw = reasoningText(messages);
  for (const redaction of output.redactions) {
    const redactedRaw = raw.slice(redaction.charStart, redaction.charEnd);
    const tokenText = decode(tokens.slice(redaction.tokenStart, redaction.tokenEnd));
    assert.ok(tokenText.includes(redactedRaw.trim().slice(0, 4)), `token span ${redaction.tokenStart}-${redaction.tokenEnd} (${JSON.stringify(tokenText)}) covers ${JSON.stringify(redactedRaw)}`);
    assert.ok(tokenText.length <= redactedRaw.length + 12, 'the token span is tight');
  }
});

test('marker and diff segments line up with the redactions', () => {
  const { tokens, messages } = fixture();
  const output = policyFilter(activeRules({})).run({ messages, tokens, promptSources: [SYSTEM] });
  const marked = filteredSegments(output.text, output.redactions).filter((segment) => segment.redaction);
  assert.deepEqual(marked.map((segment) => segment.text), ['[private data: e-mail]', '[private data: payment card]', '[private data: IP address]', '[private data: system prompt]']);
  const diff = diffSegments(reasoningText(messages), output.redactions).filter((segment) => segment.redaction);
  assert.deepEqual(diff.map((segment) => segment.text).slice(0, 3), ['jane@example.com', '4111 1111 1111 1111', '10.1.2.3']);
});

test('the filter version follows the rules: the same rules give the same version, an edit a new one', () => {
  const rules = activeRules({});
  assert.equal(filterVersion(rules), filterVersion(parseRules(JSON.parse(JSON.stringify(rules)))));
  const edited = parseRules({ ...rules, lexicons: [{ category: 'weapons', ruleId: 'lexicon.weapons', terms: ['sarin'] }] });
  assert.notEqual(filterVersion(edited), filterVersion(rules));
});

test('a malformed rules file is refused naming the field', () => {
  assert.throws(() => parseRules({ patterns: [{ category: 'x', ruleId: 'p', regex: '(' }] }), /patterns\.0\.regex: not a valid regular expression/);
  assert.throws(() => parseRules({ pii: { emails: true } }), /pii/);
});
