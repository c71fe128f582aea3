import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode as libraryEncode } from 'gpt-tokenizer/encoding/o200k_harmony';
import { bpeMergePairs, byteLevelText, byteLevelVocabulary } from '../../../lib/harmony/bpe-merges';

/** Merge-list BPE as llama.cpp runs it: repeatedly merge the adjacent pair with the lowest merge index. */
function encodeWithMerges(piece: string, idByToken: Map<string, number>, mergeIndex: Map<string, number>): number[] {
  let parts = [...byteLevelText(new TextEncoder().encode(piece))];
  for (;;) {
    let best = -1;
    let bestIndex = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const index = mergeIndex.get(`${parts[i]} ${parts[i + 1]}`);
      if (index !== undefined && index < bestIndex) [best, bestIndex] = [i, index];
    }
    if (best < 0) break;
    parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
  }
  return parts.map((part) => idByToken.get(part) ?? -1);
}

test('byte-level text maps space and newline the way GPT-2 vocabularies write them', () => {
  assert.equal(byteLevelText(new TextEncoder().encode(' a\n')), 'ĠaĊ');
});

test('the merge list reproduces tiktoken BPE on single pre-tokenized pieces', () => {
  const { tokens, merges } = byteLevelVocabulary();
  assert.equal(tokens.length, 201088);
  assert.equal(tokens[200006], '<|start|>');
  assert.equal(merges.length, bpeMergePairs().length);
  const mergeIndex = new Map(merges.map((merge, index) => [merge, index]));
  const idByToken = new Map(tokens.map((token, id) => [token, id]));
  for (const piece of [' internationalization', 'Grüße', ' 🦜', ' antidisestablishmentarianism', 'tokenizer', ' Здравствуйте']) {
    assert.deepEqual(encodeWithMerges(piece, idByToken, mergeIndex), libraryEncode(piece), piece);
  }
});
