import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logProbability, nucleus, Sampler, sampleToken, SeededRandom, temperatureSoftmax, validateSamplerSettings } from '../../../lib/runtime/sampler';

function randomLogits(size: number, seed: number, spread = 4): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from({ length: size }, () => (random.next() - 0.5) * 2 * spread);
}

test('temperature 0 is greedy: always the argmax', () => {
  const logits = randomLogits(1000, 1);
  let best = 0;
  logits.forEach((v, i) => { if (v > logits[best]) best = i; });
  for (let seed = 0; seed < 5; seed++) {
    assert.equal(sampleToken(logits, { temperature: 0, topP: 1 }, new SeededRandom(seed)), best);
  }
});

test('the same seed gives the same sequence and another seed a different one', () => {
  const logits = randomLogits(5000, 2);
  const draw = (seed: number) => {
    const random = new SeededRandom(seed);
    return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1, topP: 1 }, random));
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

test('the nucleus is the smallest most-probable set whose mass reaches top-p', () => {
  for (const topP of [0.1, 0.5, 0.9, 0.999]) {
    const probabilities = temperatureSoftmax(randomLogits(20000, 3, 6), 1);
    const sorted = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
    let mass = 0;
    let size = 0;
    while (mass < topP) mass += probabilities[sorted[size++]];
    assert.deepEqual(Array.from(nucleus(probabilities, topP)), sorted.slice(0, size), `top-p ${topP}`);
  }
});

test('top-p never samples outside the nucleus', () => {
  const logits = randomLogits(3000, 4, 5);
  const allowed = new Set(nucleus(temperatureSoftmax(logits, 0.7), 0.5));
  const random = new SeededRandom(1);
  for (let i = 0; i < 500; i++) assert.ok(allowed.has(sampleToken(logits, { temperature: 0.7, topP: 0.5 }, random)));
});

test('sample frequencies follow the softmax distribution', () => {
  const logits = Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.2));
  const counts = [0, 0, 0];
  const random = new SeededRandom(11);
  const draws = 20000;
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, { temperature: 1, topP: 1 }, random)]++;
  [0.5, 0.3, 0.2].forEach((p, i) => assert.ok(Math.abs(counts[i] / draws - p) < 0.015, `token ${i}: ${counts[i] / draws}`));
});

test('log-probability is the log softmax of the raw logits, stable for large logits', () => {
  const logits = Float32Array.of(1, 2, 3, 1000);
  // log p(2) = 3 - 1000 - log(1 + e^-999 + e^-998 + e^-997)
  assert.ok(Math.abs(logProbability(logits, 2) - (3 - 1000 - Math.log1p(Math.exp(-999) + Math.exp(-998) + Math.exp(-997)))) < 1e-9);
  assert.ok(Math.abs(logProbability(logits, 3)) < 1e-12);
  const small = Float32Array.of(0, Math.log(3));
  assert.ok(Math.abs(logProbability(small, 0) - Math.log(0.25)) < 1e-7);
});

test('invalid sampler settings are rejected with the value named', () => {
  assert.throws(() => validateSamplerSettings({ temperature: -1, topP: 1 }), /temperature must be >= 0 \(got -1\)/);
  assert.throws(() => validateSamplerSettings({ temperature: 1, topP: 0 }), /top_p must be in \(0, 1\] \(got 0\)/);
  assert.throws(() => validateSamplerSettings({ temperature: Number.NaN, topP: 1 }), /temperature/);
});

test('a given log-sum-exp (computed in the graph) yields the same token and log-prob as the JS exp pass', () => {
  const logits = randomLogits(20000, 11, 12);
  let sum = 0;
  for (const value of logits) sum += Math.exp(value);
  const logSumExp = Math.log(sum);
  for (const settings of [{ temperature: 0, topP: 1 }, { temperature: 0.7, topP: 0.9 }]) {
    const withJsPass = new Sampler(settings, new SeededRandom(3)).pick(logits);
    const withGiven = new Sampler(settings, new SeededRandom(3)).pick(logits, { logSumExp });
    assert.equal(withGiven.token, withJsPass.token);
    assert.ok(Math.abs(withGiven.logprob - withJsPass.logprob) < 1e-9, `${withGiven.logprob} vs ${withJsPass.logprob}`);
    assert.ok(Math.abs(withGiven.logprob - (logits[withGiven.token] - logSumExp)) < 1e-12);
  }
});
