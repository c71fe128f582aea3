/**
 * The runtime's MXFP4 decoder (lib/model/mxfp4.ts) and the reference's own decoder
 * (tests/reference/mxfp4.ts, written separately from spec §3) agree on every byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMxfp4Expert as runtimeDecode } from '../../lib/model/mxfp4';
import { decodeMxfp4Expert as referenceDecode } from '../reference/mxfp4';

/** Largest scale byte whose ±6·2^(s-127) still fits in float32 (the runtime decodes to float32). */
const LARGEST_FLOAT32_SCALE = 252;

test('runtime and reference decoders agree on every byte value under every float32-representable scale', () => {
  const rows = LARGEST_FLOAT32_SCALE + 1; // row r uses scale byte r
  const blocksPerRow = 16; // 16 blocks × 16 bytes = every byte value once per row
  const experts = 2;
  const blocks = new Uint8Array(experts * rows * blocksPerRow * 16);
  for (let i = 0; i < blocks.length; i++) blocks[i] = (i * (1 + Math.floor(i / 256))) & 0xff;
  const scales = new Uint8Array(experts * rows * blocksPerRow);
  for (let i = 0; i < scales.length; i++) scales[i] = Math.floor(i / blocksPerRow) % rows;
  const tensor = { blocks, scales, shape: [experts, rows, blocksPerRow * 32] as [number, number, number] };

  for (let e = 0; e < experts; e++) {
    const fromRuntime = runtimeDecode(tensor, e);
    const fromReference = referenceDecode(tensor, e);
    assert.equal(fromRuntime.length, fromReference.length);
    for (let i = 0; i < fromReference.length; i++) {
      if (!Object.is(fromRuntime[i], fromReference[i])) {
        assert.fail(`expert ${e}, element ${i}: runtime ${fromRuntime[i]} != reference ${fromReference[i]}`);
      }
    }
  }
});
