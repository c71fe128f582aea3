/**
 * The reasoning filter over stored traces, on both backends: a trace whose prompt already holds an
 * assistant analysis message (the JSONL `messages` form) is filtered like generated reasoning, a
 * batch capture filters its traces when it stores them, `cotscope filter` is idempotent per version
 * and stores an edited policy beside the old output, and every run is audited.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCapture, type PromptLine } from '../../lib/cli/capture';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';
import { loadRuntime } from '../../lib/runtime/runtime';
import type { Runtime } from '../../lib/runtime/types';
import { openStore } from '../../lib/store/index';
import { filterStoredTrace, listFilterOutputs, loadFilterOutput } from '../../lib/review/store';
import { SUMMARY_INSTRUCTIONS, summarizer } from '../../lib/review/summary';
import { activeRules, filterVersion } from '../../lib/review/rules';
import { listAudit } from '../../lib/auth/audit';
import { backendsUnderTest } from './helpers';

let modelDir: string;
let runtime: Runtime;
const work = mkdtempSync(join(tmpdir(), 'cotscope-filter-'));

before(async () => {
  modelDir = mkdtempSync(join(tmpdir(), 'cotscope-filter-model-'));
  await writeGeneratedCheckpoint(modelDir, 'tiny', { seed: 5 });
  runtime = await loadRuntime(modelDir);
});

after(async () => {
  await runtime?.close();
  rmSync(modelDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const PLANTED = 'Reasoning so far: mail ops@example.com, key sk-proj-abcdefghijklmnopqrstuvwxyz012345, pelican';
const PROMPT: PromptLine = {
  id: 'planted',
  messages: [{ role: 'user', content: 'Go on.' }, { role: 'assistant', channel: 'analysis', content: PLANTED }],
} as PromptLine;

for (const backend of backendsUnderTest()) {
  describe(`reasoning filter over stored traces (${backend.name})`, () => {
    after(() => backend.cleanup());
    let traceId = '';

    test('a batch capture filters each trace when it stores it, prompt analysis included', async () => {
      const store = await openStore(backend.options);
      try {
        const settings = {
          efforts: ['low' as const], samples: 1, collection: 'planted', capture: { routing: true, attention: false },
          sampling: { temperature: 1, topP: 1, seed: 0, maxNewTokens: 8 }, includeLogits: false,
        };
        const report = await runCapture(store, runtime, [PROMPT], settings, new AbortController().signal, { write: () => true, isTTY: false } as unknown as typeof process.stderr);
        assert.equal(report.complete, 1);
        traceId = (await store.traces.list({ collection: 'planted' })).items[0].id;
        const rules = activeRules({});
        const output = await loadFilterOutput(store.backend, traceId, { name: rules.name, version: filterVersion(rules) });
        assert.ok(output, 'stored at capture');
        assert.match(output.text, /mail \[private data: e-mail\], key \[private data: secret\], pelican/);
        assert.deepEqual(output.redactions.map((r) => [r.category, r.ruleId]), [['e-mail', 'pii.email'], ['secret', 'secret.openai']]);
        for (const redaction of output.redactions) assert.ok(redaction.tokenEnd > redaction.tokenStart && redaction.tokenStart > 0);
      } finally {
        await store.close();
      }
    });

    const cli = (args: string[]) => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', ...args], { env: { ...process.env, COTSCOPE_TOKEN: '', ...backend.childEnv }, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      return JSON.parse(result.stdout) as { filtered: number; unchanged: number; filter: { name: string; version: string } };
    };

    test('cotscope filter re-run with the same version is a no-op; edited rules are stored beside the old output', async () => {
      assert.deepEqual([cli(['filter', '--collection', 'planted', '--json']).unchanged], [1], 'already filtered at capture');
      const rulesFile = join(work, `rules-${backend.name}.json`);
      writeFileSync(rulesFile, JSON.stringify({ name: 'policy-redaction', version: '2', lexicons: [{ category: 'birds', ruleId: 'lexicon.birds', terms: ['pelican'] }] }));
      const first = cli(['filter', '--ids', traceId, '--rules', rulesFile, '--json']);
      assert.equal(first.filtered, 1);
      assert.equal(cli(['filter', '--ids', traceId, '--rules', rulesFile, '--json']).unchanged, 1, 'the same version again is a no-op');
      const store = await openStore(backend.options);
      try {
        const versions = await listFilterOutputs(store.backend, traceId);
        assert.equal(versions.length, 2);
        const edited = await loadFilterOutput(store.backend, traceId, first.filter);
        assert.match(edited!.text, /\[redacted: birds\]/);
        assert.ok((await listAudit(store.backend, { action: 'filter.run' })).length >= 3, 'filter runs are audited');
      } finally {
        await store.close();
      }
    });

    test('--summary adds a model summary with its model, prompt and settings, saying when the model is a generated one', async () => {
      const store = await openStore(backend.options);
      try {
        const rules = activeRules({});
        assert.equal(await filterStoredTrace(store, traceId, rules, summarizer(runtime, modelDir)), 'summarized');
        assert.equal(await filterStoredTrace(store, traceId, rules, summarizer(runtime, modelDir)), 'unchanged', 'summarized once per version');
        const output = await loadFilterOutput(store.backend, traceId, { name: rules.name, version: filterVersion(rules) });
        assert.equal(output!.summary!.model, runtime.name);
        assert.equal(output!.summary!.generatedModel, true);
        assert.equal(output!.summary!.prompt, SUMMARY_INSTRUCTIONS);
        assert.equal(output!.summary!.settings.temperature, 0);
      } finally {
        await store.close();
      }
    });
  });
}
