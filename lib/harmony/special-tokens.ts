/**
 * o200k_harmony special tokens (spec §5.1). BPE ranks are 0..199997; everything from
 * 199998 up to the model vocabulary (201088 ids) is a special or reserved token.
 */

export const STARTOFTEXT = 199998;
export const ENDOFTEXT = 199999;
export const RETURN = 200002;
export const CONSTRAIN = 200003;
export const CHANNEL = 200005;
export const START = 200006;
export const END = 200007;
export const MESSAGE = 200008;
export const CALL = 200012;

/** Harmony's stop set for a whole assistant turn (`stop_tokens_for_assistant_actions`). */
export const STOP_TOKENS: readonly number[] = [RETURN, CALL];

export const BPE_RANK_COUNT = 199998;
export const VOCABULARY_SIZE = 201088;

const NAMED_SPECIAL_TOKENS: ReadonlyArray<readonly [number, string]> = [
  [STARTOFTEXT, '<|startoftext|>'],
  [ENDOFTEXT, '<|endoftext|>'],
  [RETURN, '<|return|>'],
  [CONSTRAIN, '<|constrain|>'],
  [CHANNEL, '<|channel|>'],
  [START, '<|start|>'],
  [END, '<|end|>'],
  [MESSAGE, '<|message|>'],
  [CALL, '<|call|>'],
];

function buildSpecialTokenNames(): Map<number, string> {
  const names = new Map<number, string>(NAMED_SPECIAL_TOKENS);
  for (let id = BPE_RANK_COUNT; id < VOCABULARY_SIZE; id++) {
    if (!names.has(id)) names.set(id, `<|reserved_${id}|>`);
  }
  return names;
}

/** Id -> text for every id in [199998, 201088). Unnamed ids are `<|reserved_N|>`. */
export const SPECIAL_TOKEN_NAMES: ReadonlyMap<number, string> = buildSpecialTokenNames();

/** Text -> id, the inverse of SPECIAL_TOKEN_NAMES. */
export const SPECIAL_TOKEN_IDS: ReadonlyMap<string, number> = new Map(
  [...SPECIAL_TOKEN_NAMES].map(([id, name]) => [name, id]),
);

export function isSpecialToken(id: number): boolean {
  return id >= BPE_RANK_COUNT && id < VOCABULARY_SIZE;
}
