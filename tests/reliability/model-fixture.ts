/** A generated tiny checkpoint in a temp folder for one test file: written before its tests, removed after. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { writeGeneratedCheckpoint } from '../../lib/model/generate';

export interface TinyModelFixture {
  /** Scratch folder of the test file (the model lives in it). */
  work: string;
  modelDir: string;
}

/** Registers before/after hooks; the fields are set once `before` has run. */
export function tinyModelFixture(prefix: string): TinyModelFixture {
  const fixture: TinyModelFixture = { work: '', modelDir: '' };
  before(async () => {
    fixture.work = mkdtempSync(join(tmpdir(), prefix));
    fixture.modelDir = join(fixture.work, 'model');
    await writeGeneratedCheckpoint(fixture.modelDir, 'tiny', { seed: 5 });
  });
  after(() => rmSync(fixture.work, { recursive: true, force: true }));
  return fixture;
}
