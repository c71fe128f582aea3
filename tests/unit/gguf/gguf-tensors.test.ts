/**
 * The byte transforms of the gpt-oss GGUF export: MXFP4 repacked to ggml's block layout, F16
 * rounding, and the gate/up split of the interleaved gate_up rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16ToFloat32 } from '../../../lib/model/bf16';
import { TINY_PRESETS, type GptOssConfig } from '../../../lib/model/config';
import { float32ToF16Bits, gptOssMetadata, interleavedRows, repackMxfp4 } from '../../../lib/model/gguf';
import { decodeMxfp4 } from '../../../lib/model/mxfp4';

/** ggml's dequantize_row_mxfp4, written from ggml-quants.c: a doubled E2M1 table and a halved scale. */
const GGML_KVALUES_MXFP4 = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
function ggmlDequantizeMxfp4(blocks17: Uint8Array): number[] {
  const out: number[] = [];
  for (let b = 0; b < blocks17.length / 17; b++) {
    const e = blocks17[17 * b];
    const d = 2 ** (e - 128); // GGML_E8M0_TO_FP32_HALF
    const qs = blocks17.subarray(17 * b + 1, 17 * b + 17);
    const y = new Array<number>(32);
    for (let j = 0; j < 16; j++) {
      y[j] = GGML_KVALUES_MXFP4[qs[j] & 0x0f] * d;
      y[j + 16] = GGML_KVALUES_MXFP4[qs[j] >> 4] * d;
    }
    out.push(...y);
  }
  return out;
}

test('a repacked block is the scale byte followed by 16 bytes of nibbles', () => {
  const blocks = new Uint8Array(32).fill(0x21);
  const scales = Uint8Array.of(120, 131);
  const repacked = repackMxfp4(blocks, scales);
  assert.equal(repacked.length, 34);
  assert.equal(repacked[0], 120);
  assert.equal(repacked[17], 131);
});

test('element j sits in the low nibble and element j+16 in the high nibble of ggml byte j', () => {
  // HF byte j holds element 2j (low) and 2j+1 (high); give element k the nibble k mod 16.
  const hf = Uint8Array.from({ length: 16 }, (_, j) => ((2 * j) % 16) | (((2 * j + 1) % 16) << 4));
  const repacked = repackMxfp4(hf, Uint8Array.of(127));
  for (let j = 0; j < 16; j++) {
    assert.equal(repacked[1 + j] & 0x0f, j % 16, `low nibble of byte ${j}`);
    assert.equal(repacked[1 + j] >> 4, (j + 16) % 16, `high nibble of byte ${j}`);
  }
});

test('ggml decodes a repacked tensor to the same values as the spec decodes the checkpoint bytes', () => {
  let state = 12345;
  const nextByte = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const blocks = Uint8Array.from({ length: 16 * 40 }, nextByte);
  const scales = Uint8Array.from({ length: 40 }, () => 110 + (nextByte() % 30));
  // ggml's table has no -0; adding 0 turns the spec's -0 into +0 so only values are compared.
  assert.deepEqual(ggmlDequantizeMxfp4(repackMxfp4(blocks, scales)), Array.from(decodeMxfp4(blocks, scales), (v) => v + 0));
});

test('blocks and scales that do not pair up are refused', () => {
  assert.throws(() => repackMxfp4(new Uint8Array(30), new Uint8Array(2)), /30 bytes but 2 scales need 32/);
});

test('every finite half value survives float32 -> f16 exactly', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const exponent = (bits >> 10) & 0x1f;
    if (exponent === 0x1f && (bits & 0x3ff) !== 0) continue; // NaN payloads
    assert.equal(float32ToF16Bits(f16ToFloat32(bits)), bits, `half 0x${bits.toString(16)}`);
  }
});

test('f16 rounding goes to the nearest half, ties to even, and overflows to infinity', () => {
  assert.equal(float32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie between 1 and 1+2^-10: even (1)
  assert.equal(float32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie: even mantissa 2
  assert.equal(float32ToF16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01); // above the tie
  assert.equal(float32ToF16Bits(65519), 0x7bff); // below the rounding edge of the largest half
  assert.equal(float32ToF16Bits(65520), 0x7c00); // rounds past the largest half
  assert.equal(float32ToF16Bits(-1e10), 0xfc00);
  assert.equal(float32ToF16Bits(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal: even
  assert.equal(float32ToF16Bits(3 * 2 ** -26), 0x0001);
  assert.equal(float32ToF16Bits(0.1), 0x2e66);
});

test('gate takes the even rows of gate_up and up takes the odd rows', () => {
  const gateUp = Float32Array.from({ length: 6 * 2 }, (_, i) => i); // 6 rows of 2
  assert.deepEqual(Array.from(interleavedRows(gateUp, 2, 0)), [0, 1, 4, 5, 8, 9]);
  assert.deepEqual(Array.from(interleavedRows(gateUp, 2, 1)), [2, 3, 6, 7, 10, 11]);
});

test('metadata carries the shapes llama.cpp reads for gpt-oss', () => {
  const config = TINY_PRESETS.tiny;
  const metadata = gptOssMetadata(config, { name: 'tiny', experts: 'f32' });
  const value = (key: string) => {
    const entry = metadata.get(key);
    assert.ok(entry && entry.type !== 'array', key);
    return entry.value;
  };
  assert.equal(value('general.architecture'), 'gpt-oss');
  assert.equal(value('gpt-oss.block_count'), config.numLayers);
  assert.equal(value('gpt-oss.attention.key_length'), config.headDim);
  assert.equal(value('gpt-oss.attention.head_count_kv'), config.numKvHeads);
  assert.equal(value('gpt-oss.expert_used_count'), 4);
  assert.equal(value('gpt-oss.attention.sliding_window'), 128);
  assert.equal(value('gpt-oss.rope.scaling.type'), 'yarn');
  assert.equal(value('gpt-oss.rope.scaling.original_context_length'), 4096);
});

test('a checkpoint llama.cpp cannot express is refused, naming every reason', () => {
  const odd: GptOssConfig = { ...TINY_PRESETS.tiny, swigluLimit: 6, layerTypes: ['full_attention', 'full_attention', 'full_attention', 'full_attention'] };
  assert.throws(() => gptOssMetadata(odd, { name: 'odd', experts: 'f32' }), (error: Error) => {
    assert.match(error.message, /swiglu_limit 6/);
    assert.match(error.message, /layer_types must alternate/);
    assert.match(error.message, /config\.json/);
    return true;
  });
});
