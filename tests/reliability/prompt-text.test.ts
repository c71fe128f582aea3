/**
 * Issue 8, defect 5: a NUL or a lone surrogate in one prompt aborted the whole batch with the
 * database's "unsupported Unicode escape sequence". Such text is now rejected at validation, with
 * the line number, and the rest of the batch is captured.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { z } from 'zod';
import { parsePromptFile } from '../../lib/cli/capture';
import { isStorableText, storableText, unstorableTextReason } from '../../lib/trace/text';
import { backendsUnderTest, withStore } from '../db/helpers';
import { tinyModelFixture } from './model-fixture';
import { runCli } from './processes';

describe('text the store cannot hold is named at validation', () => {
  test('NUL and lone surrogates are rejected with their offset; paired surrogates and ordinary text pass', () => {
    assert.equal(unstorableTextReason('a\u0000b'), 'contains a NUL character (U+0000) at offset 1');
    assert.equal(unstorableTextReason('ab\uD800'), 'contains a lone surrogate (U+D800) at offset 2');
    assert.equal(unstorableTextReason('\uDC00x'), 'contains a lone surrogate (U+DC00) at offset 0');
    assert.equal(unstorableTextReason('\uDBFF\uD800'), 'contains a lone surrogate (U+DBFF) at offset 0');
    for (const fine of ['', 'plain', 'emoji \u{1F600} ok', 'tab\tand\u0001control', '\uFFFD']) assert.equal(unstorableTextReason(fine), null, fine);
    assert.deepEqual(['ok', 'a\u0000', '\uD800'].map(isStorableText), [true, false, false]);
  });

  test('the zod schema for API inputs reports the same reason', () => {
    const schema = z.object({ prompt: storableText(z.string().min(1)) });
    const result = schema.safeParse({ prompt: 'x\u0000' });
    assert.equal(result.success, false);
    assert.match(result.error!.issues[0].message, /NUL character/);
    assert.equal(schema.safeParse({ prompt: '' }).success, false, 'the wrapped string rules still apply');
    assert.equal(schema.safeParse({ prompt: 'fine' }).success, true);
  });

  test('a prompt file line with a NUL or lone surrogate anywhere is a problem with its line number; the other lines stay', () => {
    const lines = [
      { id: 'ok1', prompt: 'fine' },
      { id: 'nul', prompt: 'bad\u0000' },
      { id: 'sur', messages: [{ role: 'user', content: 'x\uD800' }] },
      { id: 'sys', prompt: 'fine', system: '\u0000' },
      { id: 'tag', prompt: 'fine', tags: ['\uDFFF'] },
      { id: 'ok2', prompt: 'also fine' },
    ];
    const { prompts, problems } = parsePromptFile(lines.map((line) => JSON.stringify(line)).join('\n'));
    assert.deepEqual(prompts.map((prompt) => prompt.id), ['ok1', 'ok2']);
    assert.deepEqual(problems.map((problem) => problem.line), [2, 3, 4, 5]);
    assert.match(problems[0].message, /^prompt: contains a NUL character/);
    assert.match(problems[1].message, /^messages\.0\.content: contains a lone surrogate \(U\+D800\)/);
  });
});

const fixture = tinyModelFixture('cotscope-text-');

for (const backend of backendsUnderTest()) {
  describe(`cotscope capture with unstorable text (${backend.name})`, () => {
    after(() => backend.cleanup());

    test('a NUL and a lone surrogate in a batch are reported with their line numbers and every other prompt is captured', async () => {
      const file = join(fixture.work, `${backend.name}.jsonl`);
      // JSON escapes, as a researcher's export would write them.
      writeFileSync(file, ['{"id":"q1","prompt":"first"}', '{"id":"q2","prompt":"nul \\u0000 here"}', '{"id":"q3","prompt":"lone \\ud800"}', '{"id":"q4","prompt":"last"}'].join('\n'));
      const run = await runCli(['capture', '--model', fixture.modelDir, '--prompts', file, '--effort', 'low', '--max-new-tokens', '3', '--collection', 'text'], backend.childEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, new RegExp(`${file}:2: skipped: prompt: contains a NUL character \\(U\\+0000\\) at offset 4`));
      assert.match(run.stderr, new RegExp(`${file}:3: skipped: prompt: contains a lone surrogate \\(U\\+D800\\) at offset 5`));
      assert.match(run.stderr, /2 complete, 0 failed, 0 skipped of 2/);
      const items = await withStore(backend, async (store) => (await store.traces.list({ collection: 'text' })).items);
      assert.deepEqual(items.map((item) => item.promptId).sort(), ['q1', 'q4']);
    });
  });
}
