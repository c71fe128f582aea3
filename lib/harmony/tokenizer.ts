/**
 * The o200k_harmony tokenizer (spec §5.1) on top of gpt-tokenizer's o200k_base ranks.
 *
 * gpt-tokenizer 4.0.0 only recognises a special token at the start of the input or right after
 * another special token (platform notes), so special tokens are split out here and only plain
 * text pieces go to its BPE.
 */
import bpeRanks from 'gpt-tokenizer/bpeRanks/o200k_base';
import { encode as encodeOrdinary } from 'gpt-tokenizer/encoding/o200k_harmony';
import {
  BPE_RANK_COUNT,
  SPECIAL_TOKEN_IDS,
  SPECIAL_TOKEN_NAMES,
  VOCABULARY_SIZE,
  isSpecialToken,
} from './special-tokens';

export {
  BPE_RANK_COUNT,
  CALL,
  CHANNEL,
  CONSTRAIN,
  END,
  ENDOFTEXT,
  MESSAGE,
  RETURN,
  START,
  STARTOFTEXT,
  STOP_TOKENS,
  SPECIAL_TOKEN_IDS,
  SPECIAL_TOKEN_NAMES,
  isSpecialToken,
} from './special-tokens';

export const vocabularySize = VOCABULARY_SIZE;

export class TokenIdError extends RangeError {
  constructor(readonly tokenId: unknown) {
    super(`Token id ${String(tokenId)} is not in the o200k_harmony vocabulary (integers 0..${VOCABULARY_SIZE - 1})`);
    this.name = 'TokenIdError';
  }
}

export function assertTokenId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= VOCABULARY_SIZE) throw new TokenIdError(id);
}

export interface EncodeOptions {
  /** When true, `<|...|>` texts that name special tokens become their ids; otherwise they are plain text. */
  allowSpecial: boolean;
}

/** Empty sets make gpt-tokenizer treat special-token text as ordinary text instead of throwing. */
const ORDINARY_TEXT_OPTIONS = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };
const SPECIAL_TOKEN_CANDIDATE = /<\|[A-Za-z0-9_]+\|>/g;

function encodePlainText(text: string): number[] {
  return text.length === 0 ? [] : encodeOrdinary(text, ORDINARY_TEXT_OPTIONS);
}

function encodeWithSpecialTokens(text: string): number[] {
  const ids: number[] = [];
  let plainStart = 0;
  for (const candidate of text.matchAll(SPECIAL_TOKEN_CANDIDATE)) {
    const specialId = SPECIAL_TOKEN_IDS.get(candidate[0]);
    if (specialId === undefined) continue;
    const candidateStart = candidate.index ?? 0;
    ids.push(...encodePlainText(text.slice(plainStart, candidateStart)), specialId);
    plainStart = candidateStart + candidate[0].length;
  }
  ids.push(...encodePlainText(text.slice(plainStart)));
  return ids;
}

export function encode(text: string, options: EncodeOptions): number[] {
  return options.allowSpecial ? encodeWithSpecialTokens(text) : encodePlainText(text);
}

const utf8Encoder = new TextEncoder();

/** Raw bytes of one token: the BPE byte string, or a special token's text. */
export function tokenBytes(id: number): Uint8Array {
  assertTokenId(id);
  if (isSpecialToken(id)) return utf8Encoder.encode(SPECIAL_TOKEN_NAMES.get(id) ?? '');
  const rank = bpeRanks[id];
  return typeof rank === 'string' ? utf8Encoder.encode(rank) : Uint8Array.from(rank);
}

function concatTokenBytes(ids: Iterable<number>): Uint8Array {
  const pieces = Array.from(ids, tokenBytes);
  const joined = new Uint8Array(pieces.reduce((total, piece) => total + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    joined.set(piece, offset);
    offset += piece.length;
  }
  return joined;
}

/** Text of a token sequence; byte sequences that are not valid UTF-8 become U+FFFD. */
export function decode(ids: Iterable<number>): string {
  return new TextDecoder('utf-8').decode(concatTokenBytes(ids));
}

/** Text of one token on its own. A token holding part of a multi-byte character shows U+FFFD. */
export function decodeToken(id: number): string {
  return decode([id]);
}

/**
 * Decodes tokens one at a time, holding back the bytes of a character that is split across
 * tokens until the rest arrives.
 */
export class StreamingDecoder {
  private readonly utf8 = new TextDecoder('utf-8');

  /** Text completed by this token (may be empty while a character is still incomplete). */
  push(id: number): string {
    return this.utf8.decode(tokenBytes(id), { stream: true });
  }

  /** Text of any bytes still held back (as U+FFFD, since they never completed a character). */
  flush(): string {
    return this.utf8.decode();
  }
}

let cachedAllTokenBytes: Uint8Array[] | null = null;

/** Bytes of every token, index = id: BPE ranks 0..199997, then special and reserved token names. */
export function allTokenBytes(): Uint8Array[] {
  cachedAllTokenBytes ??= Array.from({ length: VOCABULARY_SIZE }, (_, id) => tokenBytes(id));
  return cachedAllTokenBytes;
}
