/**
 * Issue 8, defect 4: `cotscope capture` resumed on the prompt id alone, so a file reusing an id
 * for another prompt or other settings captured nothing. Resume now keys on a hash of the rendered
 * prompt and the settings (stored on the trace), says what it skipped and why, and captures a
 * changed prompt anew.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { planJobs, type CaptureSettings, type PromptLine } from '../../lib/cli/capture';
import type { CompletedCapture } from '../../lib/store/index';
import { backendsUnderTest, withStore } from '../db/helpers';
import { tinyModelFixture } from './model-fixture';
import { runCli } from './processes';

const SETTINGS: CaptureSettings = {
  efforts: ['low'], samples: 1, collection: null, capture: { routing: true, attention: false, attentionTopK: 8 }, includeLogits: true,
  sampling: { temperature: 1, topP: 1, seed: 0, maxNewTokens: 4 },
};
const APPLES: PromptLine = { id: 'q1', prompt: 'apples' };

/** The completed trace a first capture of `prompt` with `settings` would leave. */
function completedAs(prompt: PromptLine, settings: CaptureSettings, id: string): CompletedCapture {
  const [job] = planJobs([prompt], settings, []).todo;
  return { id, promptId: prompt.id, effort: job.effort, sampleIndex: 0, captureKey: job.captureKey, prompt: [{ role: 'user', content: prompt.prompt! }], sampling: job.sampling };
}

describe('resume plan keys on the rendered prompt and the settings', () => {
  test('the same prompt and settings are skipped as already complete', () => {
    const plan = planJobs([APPLES], SETTINGS, [completedAs(APPLES, SETTINGS, 't1')]);
    assert.deepEqual(plan.skipped.map((skip) => skip.traceId), ['t1']);
    assert.equal(plan.todo.length, 0);
  });

  test('an id reused for another prompt is captured anew, naming the trace it differs from', () => {
    const plan = planJobs([{ id: 'q1', prompt: 'a totally different question' }], SETTINGS, [completedAs(APPLES, SETTINGS, 't1')]);
    assert.equal(plan.skipped.length, 0);
    assert.equal(plan.todo[0].supersedes, 't1');
  });

  test('other sampling settings, effort rendering or recorded sections are captured anew', () => {
    const done = [completedAs(APPLES, SETTINGS, 't1')];
    const variants: CaptureSettings[] = [
      { ...SETTINGS, sampling: { ...SETTINGS.sampling, temperature: 0.5 } },
      { ...SETTINGS, sampling: { ...SETTINGS.sampling, topP: 0.9 } },
      { ...SETTINGS, sampling: { ...SETTINGS.sampling, seed: 1 } },
      { ...SETTINGS, sampling: { ...SETTINGS.sampling, maxNewTokens: 5 } },
      { ...SETTINGS, capture: { routing: true, attention: true, attentionTopK: 8 } },
    ];
    for (const settings of variants) assert.equal(planJobs([APPLES], settings, done).todo[0]?.supersedes, 't1', JSON.stringify(settings));
    const system = planJobs([{ ...APPLES, system: 'You are terse.' }], SETTINGS, done);
    assert.equal(system.todo[0]?.supersedes, 't1', 'a changed system line changes the rendered prompt');
  });

  test('a trace stored before capture keys counts as done only when its stored prompt and sampling match', () => {
    const legacy = { ...completedAs(APPLES, SETTINGS, 'old'), captureKey: null };
    assert.equal(planJobs([APPLES], SETTINGS, [legacy]).skipped.length, 1);
    assert.equal(planJobs([{ id: 'q1', prompt: 'pears' }], SETTINGS, [legacy]).todo[0].supersedes, 'old');
    assert.equal(planJobs([APPLES], { ...SETTINGS, sampling: { ...SETTINGS.sampling, seed: 3 } }, [legacy]).todo[0].supersedes, 'old');
  });
});

const fixture = tinyModelFixture('cotscope-resume-');

for (const backend of backendsUnderTest()) {
  describe(`cotscope capture resume (${backend.name})`, () => {
    after(() => backend.cleanup());

    const capture = async (name: string, prompt: PromptLine, extra: string[] = []) => {
      const file = join(fixture.work, `${backend.name}-${name}.jsonl`);
      writeFileSync(file, `${JSON.stringify(prompt)}\n`);
      const run = await runCli(['capture', '--model', fixture.modelDir, '--prompts', file, '--effort', 'low', '--max-new-tokens', '4', '--collection', 'resume', ...extra], backend.childEnv);
      assert.equal(run.code, 0, run.stderr);
      return run.stderr;
    };

    test('a reused id with another prompt or other settings is captured anew, an unchanged one is skipped with the trace that holds it', async () => {
      await capture('first', APPLES);
      const [first] = await withStore(backend, async (store) => (await store.traces.list({ collection: 'resume' })).items);

      const again = await capture('again', APPLES);
      assert.match(again, new RegExp(`skipped q1 effort=low sample=0: already complete as trace ${first.id}`));
      assert.match(again, /0 complete, 0 failed, 1 skipped of 1/);

      const changed = await capture('changed', { id: 'q1', prompt: 'a totally different question' });
      assert.match(changed, new RegExp(`q1 effort=low sample=0: the rendered prompt or the settings differ from complete trace ${first.id}: capturing anew`));
      assert.match(changed, /1 complete, 0 failed, 0 skipped of 1/);

      const resampled = await capture('resampled', APPLES, ['--temperature', '0.5']);
      assert.match(resampled, /1 complete, 0 failed, 0 skipped of 1/);

      const items = await withStore(backend, async (store) => (await store.traces.list({ collection: 'resume' })).items);
      assert.equal(items.length, 3);
      assert.deepEqual(items.map((item) => item.status), ['complete', 'complete', 'complete']);
    });
  });
}
