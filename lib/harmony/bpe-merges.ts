/**
 * The o200k BPE as a vocabulary plus merge list, the form GGUF (`tokenizer.ggml.model = gpt2`)
 * and HF `tokenizer.json` use. tiktoken ranks tokens, not pairs: any adjacent pair whose
 * concatenation is a token may merge, at that token's rank. So every split of a token into two
 * tokens is a merge, ordered by the merged token's rank (as transformers' TikTokenConverter does).
 */
import { BPE_RANK_COUNT, VOCABULARY_SIZE } from './special-tokens';
import { allTokenBytes, SPECIAL_TOKEN_NAMES } from './tokenizer';

/** [left id, right id]; the merged token is the concatenation of their bytes. */
export type MergePair = readonly [number, number];

function binaryKey(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

let cachedMerges: MergePair[] | null = null;

/** All merges, ordered by the rank of the token they produce (ties by left rank, then right). */
export function bpeMergePairs(): MergePair[] {
  if (cachedMerges !== null) return cachedMerges;
  const tokens = allTokenBytes();
  const rankByBytes = new Map<string, number>();
  for (let rank = 0; rank < BPE_RANK_COUNT; rank++) rankByBytes.set(binaryKey(tokens[rank]), rank);
  const merges: MergePair[] = [];
  for (let rank = 0; rank < BPE_RANK_COUNT; rank++) {
    const key = binaryKey(tokens[rank]);
    const splits: MergePair[] = [];
    for (let cut = 1; cut < key.length; cut++) {
      const left = rankByBytes.get(key.slice(0, cut));
      const right = rankByBytes.get(key.slice(cut));
      if (left !== undefined && right !== undefined) splits.push([left, right]);
    }
    splits.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    merges.push(...splits);
  }
  cachedMerges = merges;
  return merges;
}

/** GPT-2's reversible byte -> printable character table used by byte-level BPE vocabularies. */
function buildByteToCharacter(): string[] {
  const printable = (byte: number) => (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
  const table: string[] = [];
  let nextUnused = 256;
  for (let byte = 0; byte < 256; byte++) {
    table.push(String.fromCodePoint(printable(byte) ? byte : nextUnused++));
  }
  return table;
}

const BYTE_TO_CHARACTER = buildByteToCharacter();

/** A token's bytes in GPT-2 byte-level form (space -> `Ġ`, newline -> `Ċ`, ...). */
export function byteLevelText(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += BYTE_TO_CHARACTER[byte];
  return text;
}

export interface ByteLevelVocabulary {
  /** Index = id. BPE tokens in byte-level form; special and reserved tokens as their names. */
  tokens: string[];
  /** `"LEFT RIGHT"` in byte-level form, in merge order. */
  merges: string[];
}

/** The vocabulary and merges as a GGUF gpt2 tokenizer stores them. */
export function byteLevelVocabulary(): ByteLevelVocabulary {
  const tokenBytes = allTokenBytes();
  const tokens = Array.from({ length: VOCABULARY_SIZE }, (_, id) =>
    id < BPE_RANK_COUNT ? byteLevelText(tokenBytes[id]) : SPECIAL_TOKEN_NAMES.get(id) ?? '',
  );
  const merges = bpeMergePairs().map(([left, right]) => `${tokens[left]} ${tokens[right]}`);
  return { tokens, merges };
}
