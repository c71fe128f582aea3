import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeatmap, encodeHeatmap, buildHeatmapData } from '../../../lib/workbench/heatmap-payload';
import { rasterizeHeatmap } from '../../../lib/workbench/heatmap-raster';
import { expertPalette, lutStep, sequentialLut } from '../../../lib/workbench/colors';
import { clampViewport, panByPixels, revealToken, tokenAtX, zoomAt, MIN_SPAN } from '../../../lib/workbench/heatmap-layout';

const shape = { numTokens: 3, numLayers: 2, numExperts: 4, topK: 2 };
const experts = new Uint8Array([0, 1, 2, 3, 1, 0, 3, 2, 2, 0, 1, 3]);
const weights = new Float32Array([0.75, 0.25, 0.5, 0.5, 1, 0, 0.6, 0.4, 0.9, 0.1, 0.3, 0.7]);
const entropy = new Float32Array([0, Math.log(4), Math.log(2), 0, 0, 0]);

test('heatmap payload round-trips ids exactly and quantises weights to 1/255', () => {
  const decoded = decodeHeatmap(encodeHeatmap(buildHeatmapData(shape, experts, weights, entropy)).slice().buffer);
  assert.deepEqual(Array.from(decoded.experts), Array.from(experts));
  decoded.weights.forEach((q, i) => assert.ok(Math.abs(q / 255 - weights[i]) <= 0.5 / 255));
  assert.equal(decoded.entropy[1], 255); // ln 4 is the maximum for 4 experts
  assert.equal(decoded.entropy[2], 128); // ln 2 / ln 4 = 0.5
});

test('heatmap payload keeps 16-bit expert ids for models with more than 256 experts', () => {
  const wide = { numTokens: 1, numLayers: 1, numExperts: 300, topK: 2 };
  const ids = new Uint16Array([299, 7]);
  const decoded = decodeHeatmap(encodeHeatmap(buildHeatmapData(wide, ids, new Float32Array([0.5, 0.5]), new Float32Array([1]))).slice().buffer);
  assert.deepEqual(Array.from(decoded.experts), [299, 7]);
});

test('a truncated heatmap payload is refused with the expected size', () => {
  const bytes = encodeHeatmap(buildHeatmapData(shape, experts, weights, entropy));
  assert.throws(() => decodeHeatmap(bytes.slice(0, bytes.length - 1).buffer), /expected \d+ for T=3 L=2 k=2/);
  assert.throws(() => decodeHeatmap(new ArrayBuffer(40)), /bad magic/);
});

test('expert mode colours each cell with its top expert; layers are rows, tokens columns', () => {
  const data = buildHeatmapData(shape, experts, weights, entropy);
  const image = rasterizeHeatmap(data, { kind: 'expert', rank: 0 });
  const palette = expertPalette(4);
  const pixel = (t: number, l: number) => Array.from(image.slice((l * 3 + t) * 4, (l * 3 + t) * 4 + 4));
  const colour = (e: number) => [...Array.from(palette.slice(e * 4, e * 4 + 3)), 255];
  assert.deepEqual(pixel(0, 0), colour(0)); // token 0 layer 0 top expert 0
  assert.deepEqual(pixel(0, 1), colour(2)); // token 0 layer 1 top expert 2
  assert.deepEqual(pixel(2, 1), colour(1)); // token 2 layer 1 top expert 1
});

test('weight mode shows zero weight where the expert was not selected', () => {
  const data = buildHeatmapData(shape, experts, weights, entropy);
  const image = rasterizeHeatmap(data, { kind: 'weight', expert: 3 });
  const lut = sequentialLut('weight');
  const rgbAt = (t: number, l: number) => Array.from(image.slice((l * 3 + t) * 4, (l * 3 + t) * 4 + 3));
  assert.deepEqual(rgbAt(0, 0), Array.from(lut.slice(0, 3))); // expert 3 absent at token 0 layer 0
  const step = Math.round(0.5 * 255);
  assert.deepEqual(rgbAt(0, 1), Array.from(lut.slice(step * 4, step * 4 + 3))); // weight 0.5
});

test('every expert of a 128-expert model gets a distinct colour', () => {
  const palette = expertPalette(128);
  const colours = new Set(Array.from({ length: 128 }, (_, e) => palette.slice(e * 4, e * 4 + 3).join(',')));
  assert.equal(colours.size, 128);
});

test('lut step clamps values outside the domain', () => {
  assert.equal(lutStep(-1, 0, 1), 0);
  assert.equal(lutStep(2, 0, 1), 255);
  assert.equal(lutStep(0.5, 0, 1), 128);
});

test('zooming keeps the token under the cursor in place', () => {
  const zoomed = zoomAt({ start: 0, span: 1000 }, 4, 0.5, 1000);
  assert.equal(zoomed.span, 250);
  assert.equal(zoomed.start + 0.5 * zoomed.span, 500);
});

test('the viewport never leaves the trace nor zooms below the minimum span', () => {
  assert.deepEqual(clampViewport({ start: -5, span: 2 }, 100), { start: 0, span: MIN_SPAN });
  assert.deepEqual(panByPixels({ start: 90, span: 10 }, -500, 100, 100), { start: 90, span: 10 });
});

test('pixel x maps to the token drawn there', () => {
  assert.equal(tokenAtX({ start: 100, span: 50 }, 0, 500, 1000), 100);
  assert.equal(tokenAtX({ start: 100, span: 50 }, 499, 500, 1000), 149);
});

test('revealing a token scrolls only as far as needed', () => {
  assert.deepEqual(revealToken({ start: 10, span: 20 }, 35, 100), { start: 16, span: 20 });
  assert.deepEqual(revealToken({ start: 10, span: 20 }, 15, 100), { start: 10, span: 20 });
});
