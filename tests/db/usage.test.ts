/**
 * Expert usage rows: one per trace, channel and layer, element e of counts / weight_sums being
 * expert e. Checked against counts taken straight from the routing capture, and the migration that
 * folds the older one-row-per-expert table into this form.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openBackend } from '../../lib/store/backend';
import { openStore, type Store } from '../../lib/store/index';
import { migrate, MIGRATIONS_DIR } from '../../lib/store/migrate';
import { backendsUnderTest, modelIdentity, syntheticRun, TINY_SHAPE } from './helpers';

const PER_EXPERT_MIGRATION = '20250901000000_init';

/** Tokens of the analysis message whose routing at `layer` picked `expert`. */
function analysisTokensChoosing(run: ReturnType<typeof syntheticRun>, layer: number, expert: number): number {
  const analysis = run.messages[1];
  const { numLayers, topK, experts } = run.routing!;
  let count = 0;
  for (let t = analysis.tokenStart; t < analysis.tokenEnd; t++) {
    for (let k = 0; k < topK; k++) if (experts[(t * numLayers + layer) * topK + k] === expert) count++;
  }
  return count;
}

for (const backend of backendsUnderTest()) {
  describe(`expert usage (${backend.name})`, () => {
    let store: Store;
    before(async () => { store = await openStore(backend.options); });
    after(async () => { await store.close(); await backend.cleanup(); });

    test('"layer L used expert E in analysis" is one indexed SQL condition on counts', async () => {
      const run = syntheticRun(TINY_SHAPE, 21);
      const id = await store.traces.create({ model: modelIdentity(TINY_SHAPE), prompt: [{ role: 'user', content: 'q' }], sampling: run.sampling });
      await store.traces.complete(id, run);
      const layer = 1;
      for (let expert = 0; expert < TINY_SHAPE.numExperts; expert++) {
        const rows = await store.backend.fast.query<{ used: number }>(
          `SELECT counts[$3::int + 1] AS used FROM expert_usage WHERE trace_id = $1 AND layer = $2 AND channel = 'analysis'`, [id, layer, expert]);
        assert.equal(rows[0]?.used, analysisTokensChoosing(run, layer, expert), `layer ${layer} expert ${expert}`);
      }
    });
  });
}

describe('expert usage migration (pglite)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cotscope-usage-migration-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('per-expert rows written before the migration fold into per-layer arrays, zeros for unused experts', async () => {
    const oldMigrations = join(root, 'migrations');
    cpSync(join(MIGRATIONS_DIR, PER_EXPERT_MIGRATION), join(oldMigrations, PER_EXPERT_MIGRATION), { recursive: true });
    const backend = await openBackend({ databaseUrl: '', dataDir: join(root, 'data') });
    try {
      await migrate(backend.direct, oldMigrations);
      await backend.direct.exec(`
        INSERT INTO models (id, name, config_hash, num_layers, num_experts, experts_per_token, num_heads, hidden_size, vocab_size)
          VALUES ('m', 'old', 'h', 2, 4, 2, 1, 8, 16);
        INSERT INTO traces (id, model_id, prompt, temperature, top_p, seed, max_new_tokens) VALUES ('t', 'm', '[]', 1, 1, 0, 1);
        INSERT INTO expert_usage (trace_id, channel, layer, expert, count, weight_sum)
          VALUES ('t', 'final', 0, 1, 3, 1.5), ('t', 'final', 0, 3, 2, 0.25), ('t', 'final', 1, 0, 5, 2.5);`);
      const applied = await migrate(backend.direct);
      assert.deepEqual(applied, readdirSync(MIGRATIONS_DIR).filter((name) => name !== PER_EXPERT_MIGRATION && !name.endsWith('.toml')).sort());
      const rows = await backend.direct.query<{ layer: number; counts: number[]; weight_sums: number[] }>(
        `SELECT layer, counts, weight_sums FROM expert_usage WHERE trace_id = 't' AND channel = 'final' ORDER BY layer`);
      assert.deepEqual(rows.map((row) => ({ ...row })), [
        { layer: 0, counts: [0, 3, 0, 2], weight_sums: [0, 1.5, 0, 0.25] },
        { layer: 1, counts: [5, 0, 0, 0], weight_sums: [2.5, 0, 0, 0] },
      ]);
    } finally {
      await backend.close();
    }
  });
});
