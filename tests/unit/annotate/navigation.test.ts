import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adjacentSpan, readingOrder, spanLanes, spansAt } from '../../../lib/annotate/navigation';

const spans = [
  { id: 'c', tokenStart: 30, tokenEnd: 35 },
  { id: 'a', tokenStart: 10, tokenEnd: 20 },
  { id: 'b2', tokenStart: 10, tokenEnd: 12 },
  { id: 'b1', tokenStart: 10, tokenEnd: 12 },
];

test('spans are read by start, then end, then id', () => {
  assert.deepEqual(readingOrder(spans).map((span) => span.id), ['b1', 'b2', 'a', 'c']);
});

test('n and p move from the selected span to its neighbour and wrap around', () => {
  assert.equal(adjacentSpan(spans, { spanId: 'b2', token: null }, 1)?.id, 'a');
  assert.equal(adjacentSpan(spans, { spanId: 'c', token: null }, 1)?.id, 'b1');
  assert.equal(adjacentSpan(spans, { spanId: 'b1', token: null }, -1)?.id, 'c');
});

test('with no span selected, n finds the first span after the cursor and p the last before it', () => {
  assert.equal(adjacentSpan(spans, { spanId: null, token: 15 }, 1)?.id, 'c');
  assert.equal(adjacentSpan(spans, { spanId: null, token: 15 }, -1)?.id, 'a');
  assert.equal(adjacentSpan(spans, { spanId: null, token: 40 }, 1)?.id, 'b1');
  assert.equal(adjacentSpan(spans, { spanId: null, token: null }, 1)?.id, 'b1');
  assert.equal(adjacentSpan(spans, { spanId: 'gone', token: 5 }, -1)?.id, 'c');
});

test('no spans: nothing to move to', () => {
  assert.equal(adjacentSpan([], { spanId: null, token: 3 }, 1), null);
});

test('the spans covering a token are listed innermost first', () => {
  assert.deepEqual(spansAt(spans, 11).map((span) => span.id), ['b2', 'b1', 'a']);
  assert.deepEqual(spansAt(spans, 25), []);
});

test('overlapping spans get separate lanes; a span starting where another ends reuses its lane', () => {
  const { lanes, count } = spanLanes([
    { id: 'x', tokenStart: 0, tokenEnd: 5 },
    { id: 'y', tokenStart: 3, tokenEnd: 8 },
    { id: 'z', tokenStart: 5, tokenEnd: 6 },
    { id: 'w', tokenStart: 4, tokenEnd: 9 },
  ]);
  assert.deepEqual(Object.fromEntries(lanes), { x: 0, y: 1, w: 2, z: 0 });
  assert.equal(count, 3);
  assert.equal(spanLanes([]).count, 0);
});
