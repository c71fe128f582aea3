import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode as libraryEncode } from 'gpt-tokenizer/encoding/o200k_harmony';
import {
  allTokenBytes,
  CALL,
  CHANNEL,
  CONSTRAIN,
  decode,
  decodeToken,
  encode,
  END,
  ENDOFTEXT,
  MESSAGE,
  RETURN,
  START,
  STARTOFTEXT,
  STOP_TOKENS,
  StreamingDecoder,
  TokenIdError,
  tokenBytes,
  vocabularySize,
} from '../../../lib/harmony/tokenizer';

const utf8 = new TextEncoder();

/** Plain-text encoding straight from gpt-tokenizer, independent of lib/harmony. */
function libraryPlain(text: string): number[] {
  return libraryEncode(text);
}

test('channel names and the assistant role are the single tokens of the spec §5.4 table', () => {
  assert.deepEqual(encode('analysis', { allowSpecial: false }), [35644]);
  assert.deepEqual(encode('final', { allowSpecial: false }), [17196]);
  assert.deepEqual(encode('assistant', { allowSpecial: false }), [173781]);
});

test('special token names encode to the ids of the spec §5.1 table', () => {
  const table: Array<[string, number]> = [
    ['<|startoftext|>', 199998],
    ['<|endoftext|>', 199999],
    ['<|return|>', 200002],
    ['<|constrain|>', 200003],
    ['<|channel|>', 200005],
    ['<|start|>', 200006],
    ['<|end|>', 200007],
    ['<|message|>', 200008],
    ['<|call|>', 200012],
  ];
  for (const [name, id] of table) assert.deepEqual(encode(name, { allowSpecial: true }), [id], name);
  assert.deepEqual(
    [STARTOFTEXT, ENDOFTEXT, RETURN, CONSTRAIN, CHANNEL, START, END, MESSAGE, CALL],
    table.map(([, id]) => id),
  );
  assert.deepEqual(STOP_TOKENS, [200002, 200012]);
});

test('a special token in the middle of text is one id between the encoded text pieces', () => {
  const ids = encode('Hello there<|end|>world<|start|>assistant', { allowSpecial: true });
  assert.deepEqual(ids, [...libraryPlain('Hello there'), 200007, ...libraryPlain('world'), 200006, ...libraryPlain('assistant')]);
});

test('special token text is plain text when special tokens are not allowed', () => {
  const text = 'say <|end|> now';
  const ids = encode(text, { allowSpecial: false });
  assert.ok(ids.every((id) => id < 199998), `no special ids expected, got ${ids.join(',')}`);
  assert.ok(ids.length > 3, 'the special token text takes several ordinary tokens');
  assert.equal(decode(ids), text);
});

test('an unknown <|name|> is plain text even when special tokens are allowed', () => {
  const ids = encode('a<|nonsense|>b', { allowSpecial: true });
  assert.ok(ids.every((id) => id < 199998));
  assert.equal(decode(ids), 'a<|nonsense|>b');
});

test('decode inverts encode for mixed scripts, emoji and special tokens', () => {
  const text = 'Grüße, 世界! 🦜 naïve café<|channel|>final<|message|>ok';
  assert.equal(decode(encode(text, { allowSpecial: true })), text);
});

test('reserved ids decode as <|reserved_N|> and encode back to the same id', () => {
  for (const id of [200000, 200013, 200018, 201087]) {
    assert.equal(decodeToken(id), `<|reserved_${id}|>`);
    assert.deepEqual(encode(`<|reserved_${id}|>`, { allowSpecial: true }), [id]);
  }
});

test('ids outside the vocabulary throw an error that names the id', () => {
  assert.equal(vocabularySize, 201088);
  for (const bad of [201088, -1, 1.5, Number.NaN]) {
    assert.throws(() => decodeToken(bad), (error: unknown) => error instanceof TokenIdError && error instanceof RangeError && error.message.includes(String(bad)));
    assert.throws(() => tokenBytes(bad), TokenIdError);
  }
});

test('tokenBytes gives the raw BPE bytes, including tokens that are not valid UTF-8 alone', () => {
  assert.deepEqual(tokenBytes(35644), utf8.encode('analysis'));
  assert.deepEqual(tokenBytes(START), utf8.encode('<|start|>'));
  const parrotIds = encode('🦜', { allowSpecial: false });
  const joined = parrotIds.flatMap((id) => [...tokenBytes(id)]);
  assert.deepEqual(Uint8Array.from(joined), utf8.encode('🦜'));
});

/** A character whose UTF-8 bytes are split across two or more tokens. */
function splitCharacter(): { text: string; ids: number[] } {
  for (const text of ['🦜', '𓀀', '龘', '🧬', '齉']) {
    const ids = encode(text, { allowSpecial: false });
    if (ids.length > 1) return { text, ids };
  }
  throw new Error('no candidate character is split across tokens');
}

test('the streaming decoder holds back a multi-byte character until its last token arrives', () => {
  const { text, ids } = splitCharacter();
  const decoder = new StreamingDecoder();
  const pieces = ids.map((id) => decoder.push(id));
  assert.deepEqual(pieces.slice(0, -1).join(''), '');
  assert.equal(pieces.at(-1), text);
  assert.equal(decoder.flush(), '');
  assert.ok(decodeToken(ids[0]).includes('\uFFFD'), 'a lone partial token shows the replacement character');
});

test('the streaming decoder flushes an unfinished character as a replacement character', () => {
  const { ids } = splitCharacter();
  const decoder = new StreamingDecoder();
  assert.equal(decoder.push(ids[0]), '');
  assert.equal(decoder.flush(), '\uFFFD');
});

test('allTokenBytes lists every id in order, and each BPE token re-encodes to its own id', () => {
  const all = allTokenBytes();
  assert.equal(all.length, 201088);
  assert.deepEqual(all[17196], utf8.encode('final'));
  assert.deepEqual(all[200007], utf8.encode('<|end|>'));
  assert.deepEqual(all[201087], utf8.encode('<|reserved_201087|>'));
  const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
  let checked = 0;
  for (let id = 0; id < 199998; id += 997) {
    let text: string;
    try {
      text = strictUtf8.decode(all[id]);
    } catch {
      continue;
    }
    const reencoded = libraryEncode(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });
    assert.deepEqual(reencoded, [id], `token ${id} (${JSON.stringify(text)})`);
    checked++;
  }
  assert.ok(checked > 150, `checked ${checked} tokens`);
});
