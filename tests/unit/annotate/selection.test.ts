import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clickSelection, contentRange, extendBy, extendTo, moveCursor, rangeHolding, selectionRange } from '../../../lib/annotate/selection';

// Two analysis messages with a final answer between them.
const ranges = [{ start: 10, end: 15 }, { start: 20, end: 23 }];

test('a selection covers anchor to head inclusive, whichever way it was made', () => {
  assert.deepEqual(selectionRange({ anchor: 12, head: 14 }), { start: 12, end: 15 });
  assert.deepEqual(selectionRange({ anchor: 14, head: 12 }), { start: 12, end: 15 });
  assert.deepEqual(selectionRange({ anchor: 11, head: 11 }), { start: 11, end: 12 });
});

test('the cursor steps over tokens that cannot be annotated into the next message', () => {
  assert.equal(moveCursor(ranges, 14, 1), 20);
  assert.equal(moveCursor(ranges, 20, -1), 14);
  assert.equal(moveCursor(ranges, 12, 1), 13);
});

test('the cursor stops at the first and last annotatable token', () => {
  assert.equal(moveCursor(ranges, 10, -1), 10);
  assert.equal(moveCursor(ranges, 22, 1), 22);
  assert.equal(moveCursor(ranges, 22, 100), 22);
  assert.equal(moveCursor([], 5, 1), 5);
});

test('extending a selection never leaves the anchor message (a span lies in one message)', () => {
  assert.deepEqual(extendBy(ranges, { anchor: 13, head: 14 }, 1), { anchor: 13, head: 14 });
  assert.deepEqual(extendTo(ranges, { anchor: 13, head: 13 }, 21), { anchor: 13, head: 14 });
  assert.deepEqual(extendTo(ranges, { anchor: 21, head: 21 }, 3), { anchor: 21, head: 20 });
  assert.deepEqual(extendBy(ranges, { anchor: 12, head: 12 }, -1), { anchor: 12, head: 11 });
});

test('a click starts a new selection; shift + click extends the current one', () => {
  assert.deepEqual(clickSelection(ranges, null, 12, true), { anchor: 12, head: 12 });
  assert.deepEqual(clickSelection(ranges, { anchor: 11, head: 11 }, 13, true), { anchor: 11, head: 13 });
  assert.deepEqual(clickSelection(ranges, { anchor: 11, head: 11 }, 13, false), { anchor: 13, head: 13 });
});

test('a click on a token outside every annotatable message keeps the selection', () => {
  const current = { anchor: 11, head: 12 };
  assert.equal(clickSelection(ranges, current, 17, false), current);
  assert.equal(rangeHolding(ranges, 17), null);
  assert.deepEqual(rangeHolding(ranges, 22), { start: 20, end: 23 });
});

test('only content tokens can be annotated: not the header up to <|message|>, not the terminator', () => {
  const texts = ['<|start|>', 'assistant', '<|channel|>', 'analysis', '<|message|>', 'We', ' think', '<|end|>', 'x'];
  assert.deepEqual(contentRange({ start: 0, end: 8 }, texts), { start: 5, end: 7 });
  assert.deepEqual(contentRange({ start: 0, end: 7 }, texts), { start: 5, end: 7 }, 'a message cut off before its terminator');
  assert.equal(contentRange({ start: 0, end: 4 }, texts), null, 'no header: nothing to annotate');
  assert.equal(contentRange({ start: 0, end: 6 }, ['<|message|>', '<|end|>']), null, 'no content');
});
