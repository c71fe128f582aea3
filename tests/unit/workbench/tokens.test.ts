import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelBands, messageIndexPerToken, navigateToken, tokensOfChannel } from '../../../lib/workbench/tokens';

const messages = [
  { role: 'user', channel: null, tokenStart: 0, tokenEnd: 4 },
  { role: 'assistant', channel: 'analysis', tokenStart: 4, tokenEnd: 7 },
  { role: 'assistant', channel: 'analysis', tokenStart: 7, tokenEnd: 9 },
  { role: 'assistant', channel: 'final', tokenStart: 9, tokenEnd: 11 },
];

test('each token knows its message; tokens outside messages get -1', () => {
  assert.deepEqual(Array.from(messageIndexPerToken(messages, 12)), [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, -1]);
});

test('adjacent messages on the same channel form one band', () => {
  assert.deepEqual(channelBands(messages), [
    { start: 0, end: 4, label: 'user' },
    { start: 4, end: 9, label: 'analysis' },
    { start: 9, end: 11, label: 'final' },
  ]);
});

test('tokens of a channel come from all its messages in order', () => {
  assert.deepEqual(tokensOfChannel(messages, 'final'), [9, 10]);
});

test('arrow keys move one token and stop at the ends', () => {
  assert.equal(navigateToken(0, 'ArrowLeft', 10), 0);
  assert.equal(navigateToken(9, 'ArrowRight', 10), 9);
  assert.equal(navigateToken(3, 'End', 10), 9);
  assert.equal(navigateToken(3, 'a', 10), null);
});
