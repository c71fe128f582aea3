import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expertUsage, routerEntropy, softmax, usageDifference } from '../../../lib/workbench/routing-stats';

test('router entropy of equal logits is ln E', () => {
  const shape = { numTokens: 1, numLayers: 2, numExperts: 4, topK: 2 };
  const entropy = routerEntropy(new Float32Array([3, 3, 3, 3, -1, -1, -1, -1]), shape);
  assert.ok(Math.abs(entropy[0] - Math.log(4)) < 1e-6);
  assert.ok(Math.abs(entropy[1] - Math.log(4)) < 1e-6);
});

test('router entropy of one dominant logit is near zero', () => {
  const shape = { numTokens: 1, numLayers: 1, numExperts: 3, topK: 1 };
  const [entropy] = routerEntropy(new Float32Array([100, 0, 0]), shape);
  assert.ok(entropy >= 0 && entropy < 1e-6);
});

test('router entropy names the shape when logits do not match it', () => {
  assert.throws(() => routerEntropy(new Float32Array(5), { numTokens: 1, numLayers: 1, numExperts: 4, topK: 1 }), /expected 1 rows x 4 experts/);
});

test('softmax of two logits ln 3 apart gives 3:1', () => {
  const [a, b] = softmax([Math.log(3), 0]);
  assert.ok(Math.abs(a - 0.75) < 1e-12 && Math.abs(b - 0.25) < 1e-12);
});

test('expert usage counts selections per layer over the token range', () => {
  const shape = { numTokens: 2, numLayers: 1, numExperts: 3, topK: 2 };
  // token 0 picks experts 0,1; token 1 picks 1,2
  const experts = new Uint8Array([0, 1, 1, 2]);
  assert.deepEqual(Array.from(expertUsage(experts, shape)), [0.5, 1, 0.5]);
  assert.deepEqual(Array.from(expertUsage(experts, shape, { start: 1, end: 2 })), [0, 1, 1]);
});

test('usage difference refuses matrices of different models', () => {
  assert.throws(() => usageDifference(new Float32Array(2), new Float32Array(3)), /same model/);
});
