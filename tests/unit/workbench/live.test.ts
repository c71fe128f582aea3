import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveHeatmap } from '../../../lib/workbench/live-heatmap';
import { SseParser } from '../../../lib/workbench/sse';

test('a live heatmap view covers exactly the tokens pushed so far', () => {
  const live = new LiveHeatmap(4, 2, 8, 2);
  live.push([[3, 1], [7, 0]], [[0.5, 0.5], [1, 0]]);
  const view = live.view();
  assert.equal(view.numTokens, 1);
  assert.deepEqual(Array.from(view.experts), [3, 1, 7, 0]);
  assert.deepEqual(Array.from(view.weights), [128, 128, 255, 0]);
});

test('a live heatmap refuses routing with the wrong layer count', () => {
  assert.throws(() => new LiveHeatmap(4, 2, 8, 2).push([[1, 2]], [[1, 0]]), /1 layers, expected 2/);
});

test('server-sent events split across reads are reassembled', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('event: token\ndata: {"a"'), []);
  assert.deepEqual(parser.push(':1}\n\nevent: done\ndata: {}\n\n'), ['{"a":1}', '{}']);
});
