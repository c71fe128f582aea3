/**
 * `npm run bench:sampler`: the per-step cost of turning 201,088 logits into a token and its
 * log-probability: the native float64 log-sum-exp the runtime uses for `run --json`
 * log-probabilities, a JavaScript float64 pass for comparison, and Sampler.pick (greedy and
 * temperature 1). Median and spread of BENCH_REPEATS (>= 5) interleaved rounds of 20 calls.
 */
import { loadNativeKernels } from '../kernels/native';
import { logProbability, Sampler, SeededRandom } from '../lib/runtime/sampler';
import { median, roundOrder, spread } from './common';

const REPEATS = Math.max(5, Number(process.env.BENCH_REPEATS ?? 5));
const VOCABULARY = 201088;
const CALLS = 20;

function main(): void {
  const load = loadNativeKernels();
  if (!load.ok) throw new Error(`bench:sampler needs the native kernels: ${load.reason}`);
  const native = load.kernels;
  const random = new SeededRandom(1);
  const logits = Float32Array.from({ length: VOCABULARY }, () => (random.next() * 2 - 1) * 12);
  const greedy = new Sampler({ temperature: 0, topP: 1 }, new SeededRandom(2));
  const sampled = new Sampler({ temperature: 1, topP: 1 }, new SeededRandom(3));
  const cases: Record<string, () => unknown> = {
    'native log-sum-exp and argmax': () => native.logitStats(logits),
    'JavaScript float64 log-probability pass': () => logProbability(logits, 7),
    'Sampler.pick greedy, log-sum-exp and argmax given': () => greedy.pick(logits, native.logitStats(logits)),
    'Sampler.pick temperature 1': () => sampled.pick(logits),
  };
  const names = Object.keys(cases);
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let r = -1; r < REPEATS; r++) {
    for (const name of roundOrder(names, Math.max(r, 0))) {
      const start = performance.now();
      for (let c = 0; c < CALLS; c++) cases[name]();
      if (r >= 0) samples.get(name)!.push((performance.now() - start) / CALLS);
    }
  }
  console.log(`per decode step over ${VOCABULARY} logits (median of ${REPEATS} rounds of ${CALLS} calls)`);
  const width = Math.max(...names.map((name) => name.length));
  for (const name of names) console.log(`  ${name.padEnd(width)} ${median(samples.get(name)!).toFixed(2)} ms (spread ${(spread(samples.get(name)!) * 100).toFixed(0)}%)`);
}

main();
