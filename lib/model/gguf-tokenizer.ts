/**
 * llama.cpp's "gpt2" (byte-level BPE) tokenizer metadata for the o200k_harmony vocabulary.
 *
 * tiktoken stores only merge ranks; llama.cpp wants token strings and an ordered merge list.
 * Token strings use GPT-2's byte-to-unicode alphabet. The merge that creates BPE token t is
 * recovered by running BPE on t's own bytes with only ranks below t's rank: that leaves exactly
 * two pieces, and listing those pairs in rank order gives llama.cpp the same merge priorities.
 */
import type { GgufMetadata, GgufValue } from './gguf-format';
import { CheckpointError } from './errors';
import { allTokenBytes, BPE_RANK_COUNT, ENDOFTEXT, RETURN, STARTOFTEXT } from '../harmony/tokenizer';

/** llama.cpp token types (llama_token_type). */
export const TOKEN_TYPE = { normal: 1, control: 3 } as const;

/** llama.cpp's name for the o200k pre-tokenizer regex (LLAMA_VOCAB_PRE_TYPE_GPT4O). */
export const O200K_PRE_TOKENIZER = 'gpt-4o';

export interface TokenizerVocabulary {
  /** Bytes of every token, index = id (BPE tokens first, then special tokens as their text). */
  tokenBytes: readonly Uint8Array[];
  /** Ids below this are BPE tokens with merge rank = id; the rest are special (control) tokens. */
  bpeTokenCount: number;
  bosTokenId: number;
  eosTokenId: number;
  padTokenId: number;
}

/** The o200k_harmony vocabulary as cotscope's tokenizer defines it (ids 0..201087). */
export function harmonyVocabulary(): TokenizerVocabulary {
  return { tokenBytes: allTokenBytes(), bpeTokenCount: BPE_RANK_COUNT, bosTokenId: STARTOFTEXT, eosTokenId: RETURN, padTokenId: ENDOFTEXT };
}

/** GPT-2's reversible byte -> printable character map: printable Latin-1 bytes stand for themselves. */
export function byteToUnicodeTable(): string[] {
  const isPrintable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = new Array(256);
  let nextSubstitute = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(isPrintable(b) ? b : nextSubstitute++);
  return table;
}

const BYTE_TO_UNICODE = byteToUnicodeTable();

export function bytesToTokenText(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += BYTE_TO_UNICODE[b];
  return text;
}

/** One char per byte, used as a Map key for byte strings. */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * BPE over `pieces` using only ranks below `maxRank`; merges the lowest-ranked adjacent pair
 * first, as tiktoken does. Pieces are latin1 byte strings.
 */
function bpeBelowRank(pieces: string[], rankOf: ReadonlyMap<string, number>, maxRank: number): string[] {
  const parts = [...pieces];
  for (;;) {
    let bestRank = maxRank;
    let bestIndex = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = rankOf.get(parts[i] + parts[i + 1]);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        bestIndex = i;
      }
    }
    if (bestIndex < 0) return parts;
    parts.splice(bestIndex, 2, parts[bestIndex] + parts[bestIndex + 1]);
  }
}

/** The merge list ("left right" in token text) in rank order, derived from BPE ranks. */
export function deriveMerges(bpeTokens: readonly Uint8Array[]): string[] {
  const keys = bpeTokens.map(latin1);
  const rankOf = new Map<string, number>();
  keys.forEach((key, rank) => rankOf.set(key, rank));
  const merges: string[] = [];
  keys.forEach((key, rank) => {
    if (key.length < 2) return;
    const pair = bpeBelowRank([...key], rankOf, rank);
    if (pair.length !== 2) {
      throw new CheckpointError(`BPE token ${rank} cannot be built from one merge of lower-ranked tokens (splits into ${pair.length} pieces)`);
    }
    const [left, right] = pair.map((piece) => bytesToTokenText(Buffer.from(piece, 'latin1')));
    merges.push(`${left} ${right}`);
  });
  return merges;
}

/** tokenizer.ggml.* metadata entries for a vocabulary. */
export function tokenizerMetadata(vocabulary: TokenizerVocabulary): GgufMetadata {
  const { tokenBytes, bpeTokenCount } = vocabulary;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const tokens = tokenBytes.map((bytes, id) => (id < bpeTokenCount ? bytesToTokenText(bytes) : utf8.decode(bytes)));
  const tokenTypes = tokenBytes.map((_, id) => (id < bpeTokenCount ? TOKEN_TYPE.normal : TOKEN_TYPE.control));
  const merges = deriveMerges(tokenBytes.slice(0, bpeTokenCount));
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: O200K_PRE_TOKENIZER }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', values: tokenTypes }],
    ['tokenizer.ggml.merges', { type: 'array', itemType: 'string', values: merges }],
    ['tokenizer.ggml.bos_token_id', { type: 'uint32', value: vocabulary.bosTokenId }],
    ['tokenizer.ggml.eos_token_id', { type: 'uint32', value: vocabulary.eosTokenId }],
    ['tokenizer.ggml.padding_token_id', { type: 'uint32', value: vocabulary.padTokenId }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ]);
}
