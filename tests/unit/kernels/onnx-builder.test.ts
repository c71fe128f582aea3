import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, scope } from '../../../kernels/onnx';
import { createSession } from '../../../kernels/session';

test('large initializers travel as external data and small ones inline, and both load', async () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', [4096]);
  const big = g.initializer('big', Float32Array.from({ length: 4096 }, (_, i) => i), [4096]);
  const small = g.initializer('small', Float32Array.from([0.5]), [1]);
  g.op('Mul', [g.op('Add', [x, big], 'sum'), small], 'y');
  g.output('y', 'float32', [4096]);
  const built = g.build();
  assert.deepEqual(built.externalData.map((f) => [f.path, f.data.byteLength]), [['big.bin', 4096 * 4]]);
  const session = await createSession(built);
  const result = await session.run({ x: new ort.Tensor('float32', new Float32Array(4096).fill(2), [4096]) });
  const y = result.y.data as Float32Array;
  assert.equal(y[0], 1);
  assert.equal(y[4095], (4095 + 2) / 2);
  await session.release();
});

test('a value defined twice is refused by name', () => {
  const g = new GraphBuilder('t');
  g.input('x', 'float32', [1]);
  assert.throws(() => g.op('Relu', ['x'], 'x'), /graph value "x" is defined twice/);
});

test('a node reading an undefined value is refused by name', () => {
  const g = new GraphBuilder('t');
  assert.throws(() => g.op('Relu', ['missing'], 'y'), /Relu -> y: input "missing" is not defined/);
});

test('plain fractional numbers are not silently truncated to int attributes', () => {
  const g = new GraphBuilder('t');
  g.input('x', 'float32', [1]);
  assert.throws(() => g.op('LeakyRelu', ['x'], 'y', { alpha: 0.1 }), /wrap floats as \{ float \}/);
});

test('an initializer whose data does not fill its dims is refused', () => {
  const g = new GraphBuilder('t');
  assert.throws(() => g.initializer('w', new Float32Array(5), [2, 3]), /initializer "w": 5 values do not fill dims \[2, 3\]/);
});

test('shared constants are created once per value', () => {
  const g = new GraphBuilder('t');
  assert.equal(g.constInt64([1, 2]), g.constInt64([1, 2]));
  assert.notEqual(g.constInt64([1, 2]), g.constInt64([1, 3]));
  assert.equal(scope('blk.3')('attn_q'), 'blk.3.attn_q');
});
