/**
 * `cotscope run --device webgpu --temperature 0 --capture routing,attention --json`, run as a user
 * runs it, on generated checkpoints of several shapes: the same greedy tokens as the CPU path, router
 * logits within 2e-3 of the fp64 reference, the same top-k expert sets, sink mass within 1e-3, at
 * positions past the 128-token sliding window. Skips (saying why) only where no WebGPU adapter exists.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TINY_PRESETS, type GptOssConfig } from '../../lib/model/config';
import { openCheckpoint } from '../../lib/model/checkpoint';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import type { RunJson } from '../../lib/trace/json';
import { runCli } from '../reliability/processes';
import { referenceForward, type ReferenceResult } from '../reference/forward64';
import { seededRandom } from '../reference/random-weights';
import { webGpuSkipReason } from '../webgpu';

const ROUTER_LOGITS_ABS = 2e-3;
const SINK_MASS_ABS = 1e-3;
/** The WebGPU capture against the CPU path's (both float32 against fp64 within ~1e-5). */
const CAPTURE_ABS = 2e-5;
/** Long enough that the last positions see past the 128-key window. */
const PROMPT_LENGTH = 140;
const NEW_TOKENS = 6;
/** Top-k slots within this of the next logit are a near tie in the reference: the set may differ. */
const TIE_MARGIN = 1e-4;

const layers = (n: number): GptOssConfig['layerTypes'] =>
  Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));

const SHAPES: { label: string; config: GptOssConfig }[] = [
  {
    label: '3 layers, top-2 of 8 experts, head_dim 32 x 4 heads != hidden 64',
    config: { ...TINY_PRESETS.tiny, numLayers: 3, layerTypes: layers(3), expertsPerToken: 2 },
  },
  {
    label: '5 layers, 6 heads over 2 KV heads, head_dim 16 x 6 != hidden 32, top-4 of 8',
    config: { ...TINY_PRESETS.tiny, hiddenSize: 32, intermediateSize: 32, numLayers: 5, layerTypes: layers(5), numHeads: 6, numKvHeads: 2, headDim: 16 },
  },
];

const skip = await webGpuSkipReason();

async function runJson(modelDir: string, promptIds: number[], device: 'cpu' | 'webgpu'): Promise<RunJson> {
  const args = ['run', '--model', modelDir, '--prompt-ids', promptIds.join(','), '--max-new-tokens', String(NEW_TOKENS)];
  const run = await runCli([...args, '--temperature', '0', '--capture', 'routing,attention', '--threads', '1', '--device', device, '--json']);
  assert.equal(run.code, 0, `cotscope run --device ${device} failed:\n${run.stderr}`);
  return JSON.parse(run.stdout) as RunJson;
}

/** The reference's top-k set at a position, or null where the k-th and (k+1)-th logits nearly tie. */
function confidentSet(logits: Float64Array, k: number): Set<number> | null {
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (logits[order[k - 1]] - logits[order[k]] <= TIE_MARGIN) return null;
  return new Set(order.slice(0, k));
}

for (const shape of SHAPES) {
  describe(`WebGPU CLI run matches the CPU path and the fp64 reference: ${shape.label}`, { skip }, () => {
    let dir = '';
    let cpu: RunJson;
    let gpu: RunJson;
    let expected: ReferenceResult;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotscope-webgpu-cli-'));
      await writeGeneratedCheckpoint(dir, shape.config, { seed: 5 });
      const random = seededRandom(99);
      const promptIds = Array.from({ length: PROMPT_LENGTH }, () => Math.floor(random() * 200_000));
      cpu = await runJson(dir, promptIds, 'cpu');
      gpu = await runJson(dir, promptIds, 'webgpu');
      const weights = openCheckpoint(dir);
      try {
        expected = referenceForward(weights, gpu.tokens, { logitsAt: [] });
      } finally {
        weights.close();
      }
    });
    after(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('the run says which adapter it used', () => {
      assert.match(gpu.device ?? '', /^webgpu \(.+\)$/);
      assert.equal(cpu.device, 'cpu');
    });

    test('greedy tokens are identical to the CPU path', () => {
      assert.equal(gpu.tokens.length, PROMPT_LENGTH + NEW_TOKENS);
      assert.deepEqual(gpu.tokens, cpu.tokens);
    });

    test('router logits are within 2e-3 of the reference at every position and layer', (t) => {
      let worst = 0;
      gpu.routing!.logits.forEach((perLayer, position) =>
        perLayer.forEach((row, layer) =>
          row.forEach((value, e) => {
            worst = Math.max(worst, Math.abs(value - expected.layers[layer].routerLogits[position][e]));
          }),
        ),
      );
      t.diagnostic(`router logits: max abs ${worst.toExponential(2)} over ${gpu.routing!.logits.length} positions`);
      assert.ok(worst <= ROUTER_LOGITS_ABS, `max abs ${worst}`);
    });

    test('top-k expert sets are the CPU path\'s and the reference\'s', (t) => {
      let compared = 0;
      gpu.routing!.experts.forEach((perLayer, position) =>
        perLayer.forEach((chosen, layer) => {
          assert.deepEqual([...chosen].sort(), [...cpu.routing!.experts[position][layer]].sort(), `position ${position}, layer ${layer} vs CPU`);
          const reference = confidentSet(expected.layers[layer].routerLogits[position], chosen.length);
          if (!reference) return;
          compared++;
          assert.deepEqual(new Set(chosen), reference, `position ${position}, layer ${layer} vs reference`);
        }),
      );
      t.diagnostic(`expert sets compared with the reference: ${compared}`);
      assert.ok(compared > 0.95 * gpu.routing!.experts.length * shape.config.numLayers, 'near ties should be rare');
    });

    test('the capture holds what the CPU path captures: routing weights, top attended positions and their weights', (t) => {
      let worst = 0;
      let comparedPositions = 0;
      gpu.routing!.weights.forEach((perLayer, position) =>
        perLayer.forEach((weights, layer) =>
          weights.forEach((w, slot) => {
            worst = Math.max(worst, Math.abs(w - cpu.routing!.weights[position][layer][slot]));
          }),
        ),
      );
      gpu.attention!.top.weights.forEach((perLayer, position) =>
        perLayer.forEach((perHead, layer) =>
          perHead.forEach((weights, head) => {
            const cpuWeights = cpu.attention!.top.weights[position][layer][head];
            weights.forEach((w, slot) => {
              worst = Math.max(worst, Math.abs(w - cpuWeights[slot]));
              const clear = (slot === 0 || cpuWeights[slot - 1] - cpuWeights[slot] > CAPTURE_ABS) && (slot + 1 === weights.length || cpuWeights[slot] - cpuWeights[slot + 1] > CAPTURE_ABS);
              if (!clear) return;
              comparedPositions++;
              assert.equal(gpu.attention!.top.positions[position][layer][head][slot], cpu.attention!.top.positions[position][layer][head][slot]);
            });
          }),
        ),
      );
      t.diagnostic(`capture weights: max abs ${worst.toExponential(2)} from the CPU path; attended positions compared ${comparedPositions}`);
      assert.ok(worst <= CAPTURE_ABS, `max abs ${worst}`);
    });

    test('sink mass is within 1e-3 of the reference, past the sliding window too', (t) => {
      let worst = 0;
      gpu.attention!.sinkMass.forEach((perLayer, position) =>
        perLayer.forEach((heads, layer) =>
          heads.forEach((mass, h) => {
            worst = Math.max(worst, Math.abs(mass - expected.layers[layer].sinkMass[position][h]));
          }),
        ),
      );
      t.diagnostic(`sink mass: max abs ${worst.toExponential(2)}`);
      assert.ok(gpu.attention!.sinkMass.length > 128, 'positions past the window were captured');
      assert.ok(worst <= SINK_MASS_ABS, `max abs ${worst}`);
    });
  });
}

describe('device errors', () => {
  test('with no WebGPU adapter, run --device webgpu fails naming the reason and the install hint', { skip: process.platform !== 'linux' && 'hides Vulkan drivers, which only Linux uses' }, async () => {
    const noDrivers = { VK_ICD_FILENAMES: '/nonexistent.json', VK_DRIVER_FILES: '/nonexistent.json' };
    const run = await runCli(['run', '--model', 'models/not-read', '--prompt-ids', '1,2', '--device', 'webgpu'], noDrivers);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /no WebGPU adapter/);
    assert.match(run.stderr, /mesa-vulkan-drivers/);
  });

  test('an unknown device is refused naming the flag', async () => {
    const run = await runCli(['run', '--model', 'models/not-read', '--prompt-ids', '1,2', '--device', 'tpu']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /--device must be cpu or webgpu \(got "tpu"\)/);
  });
});
