/** The device choice: --device beats COTSCOPE_DEVICE beats cpu, and a bad value names where it came from. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDevice, deviceLabel, parseDevice } from '../../../kernels/device';
import { deviceOption } from '../../../lib/cli/options';

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
