/**
 * The device choice: --device beats COTSCOPE_DEVICE beats cpu, and a bad value names where it came
 * from; the label a run's traces carry names the device and every lossy arithmetic choice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDevice, deviceLabel, parseDevice } from '../../../kernels/device';
import { deviceOption, expertInputsOption } from '../../../lib/cli/options';
import { computedOn } from '../../../lib/runtime/runtime';

function withEnv<T>(value: string | undefined, run: () => T): T {
  const saved = process.env.COTSCOPE_DEVICE;
  if (value === undefined) delete process.env.COTSCOPE_DEVICE;
  else process.env.COTSCOPE_DEVICE = value;
  try {
    return run();
  } finally {
    if (saved === undefined) delete process.env.COTSCOPE_DEVICE;
    else process.env.COTSCOPE_DEVICE = saved;
  }
}

test('without a flag or COTSCOPE_DEVICE the device is cpu', () => {
  assert.equal(withEnv(undefined, () => deviceOption(undefined)), 'cpu');
});

test('COTSCOPE_DEVICE sets the default and --device overrides it', () => {
  assert.equal(withEnv('webgpu', () => defaultDevice()), 'webgpu');
  assert.equal(withEnv('webgpu', () => deviceOption('cpu')), 'cpu');
});

test('a bad device names the flag or the variable it came from', () => {
  assert.throws(() => parseDevice('cuda', '--device'), /--device must be cpu or webgpu \(got "cuda"\)/);
  assert.throws(() => withEnv('gpu', () => defaultDevice()), /COTSCOPE_DEVICE must be cpu or webgpu \(got "gpu"\)/);
});

test('the label names the adapter on webgpu', () => {
  assert.equal(deviceLabel('cpu', null), 'cpu');
  assert.equal(deviceLabel('webgpu', { name: 'llvmpipe', vendor: 'mesa', architecture: 'software', device: 'x' }), 'webgpu (llvmpipe)');
});

test('a run label names each lossy choice after the device, and the exact defaults add nothing', () => {
  assert.equal(computedOn('cpu', 'fp32', 'f32'), 'cpu');
  assert.equal(computedOn('cpu', 'fp32', 'q8'), 'cpu, q8 expert inputs');
  assert.equal(computedOn('webgpu (llvmpipe)', 'fp16', 'f32'), 'webgpu (llvmpipe), fp16');
});

test('--expert-inputs defaults to the exact f32 and names the flag when the value is unknown', () => {
  assert.equal(expertInputsOption(undefined), 'f32');
  assert.equal(expertInputsOption('q8'), 'q8');
  assert.throws(() => expertInputsOption('q4'), /--expert-inputs must be f32 or q8 \(got "q4"\)/);
});
