/**
 * The native path's expert selection (selectExperts in lib/runtime/native-forward.ts) against
 * the graph paths' TopK + Softmax (kernels/router.ts) run by onnxruntime: the same experts in the
 * same order, ties included, and weights that are a softmax over only the k chosen logits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { createSession, GraphBuilder, routerSelection, scope } from '../../../kernels';
import { selectExperts } from '../../../lib/runtime/native-forward';
import { seededRandom } from '../../reference/random-weights';

const E = 32;
const K = 4;

async function onnxSelection(logits: Float32Array, tokens: number): Promise<{ topk: BigInt64Array; weights: Float32Array }> {
  const g = new GraphBuilder('router-selection');
  const input = g.input('logits', 'float32', ['sequence', E]);
  const { topk, weights } = routerSelection(g, input, K, scope('blk.0'));
  g.output(topk, 'int64', ['sequence', K]);
  g.output(weights, 'float32', ['sequence', K]);
  const session = await createSession(g.build(), { threads: 1 });
  try {
    const out = await session.run({ logits: new ort.Tensor('float32', logits, [tokens, E]) });
    return { topk: out[topk].data as BigInt64Array, weights: out[weights].data as Float32Array };
  } finally {
    await session.release();
  }
}

test('selectExperts picks what onnxruntime TopK picks, equal logits by lower id, and softmaxes only the k chosen', async () => {
  const tokens = 64;
  const random = seededRandom(5);
  // Logits on a coarse grid so that rows hold ties, some of them across the k-th place.
  const logits = Float32Array.from({ length: tokens * E }, () => Math.round(random() * 12) / 4 - 1.5);
  const native = selectExperts(logits, tokens, E, K);
  const graph = await onnxSelection(logits, tokens);
  assert.deepEqual(Array.from(native.topk), Array.from(graph.topk));
  for (let i = 0; i < native.weights.length; i++) assert.ok(Math.abs(native.weights[i] - graph.weights[i]) <= 1e-7, `weight ${i}: ${native.weights[i]} vs ${graph.weights[i]}`);
  for (let s = 0; s < tokens; s++) {
    const row = native.weights.subarray(s * K, (s + 1) * K);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, `token ${s}: the k weights sum to 1`);
  }
});
