/**
 * Issue 8, defect 1: two processes on one PGlite folder lost traces and corrupted the index. A
 * second process (a CLI beside the app, say) is now refused with an error naming the holder,
 * exits non-zero, and the holder's data is intact; a lock left by a killed process is taken over.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { acquireFolderLock, StoreLockedError } from '../../lib/store/folder-lock';
import { openStore } from '../../lib/store/index';
import { tinyModelFixture } from './model-fixture';
import { finished, runCli, spawnTs, waitForLine } from './processes';

const fixture = tinyModelFixture('cotscope-lock-');

/** A child process holding the PGlite store in `dataDir` open, with one trace written. */
async function holdStore(dataDir: string): Promise<{ child: ChildProcess; traceId: string }> {
  const child = spawnTs('tests/reliability/fixtures/hold-store.ts', [], { COTSCOPE_DATA_DIR: dataDir, DATABASE_URL: '' });
  const output = await waitForLine(child, /^holding /);
  return { child, traceId: /holding (\S+)/.exec(output)![1] };
}

const env = (dataDir: string) => ({ COTSCOPE_DATA_DIR: dataDir, DATABASE_URL: '' });

async function listedIds(dataDir: string): Promise<string[]> {
  const listed = await runCli(['traces', 'list', '--json'], env(dataDir));
  assert.equal(listed.code, 0, listed.stderr);
  return (JSON.parse(listed.stdout) as { items: { id: string }[] }).items.map((item) => item.id);
}

describe('one process per PGlite data folder', () => {
  test('a CLI run while another process holds the folder is refused naming that process, and the holder keeps its data', async () => {
    const dataDir = join(fixture.work, 'held');
    const { child, traceId } = await holdStore(dataDir);
    const holderExit = finished(child);
    try {
      const prompts = join(fixture.work, 'prompts.jsonl');
      writeFileSync(prompts, `${JSON.stringify({ id: 'q1', prompt: 'apples' })}\n`);
      for (const args of [['traces', 'list'], ['capture', '--model', fixture.modelDir, '--prompts', prompts, '--max-new-tokens', '4']]) {
        const refused = await runCli(args, env(dataDir));
        assert.equal(refused.code, 1, `${args[0]} must fail:\n${refused.stdout}${refused.stderr}`);
        assert.match(refused.stderr, new RegExp(`in use by pid ${child.pid} on host ${hostname()}`));
        assert.match(refused.stderr, /hold-store\.ts/, 'the message names the holder\'s command');
        assert.match(refused.stderr, /one process per data folder/);
      }
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal((await holderExit).code, 0);
    assert.deepEqual(await listedIds(dataDir), [traceId], 'the holder\'s trace is there, and nothing else');
    assert.equal(existsSync(join(dataDir, 'db.lock')), false, 'the lock is released on close');
  });

  test('a lock left by a process killed with SIGKILL is taken over', async () => {
    const dataDir = join(fixture.work, 'killed');
    const { child, traceId } = await holdStore(dataDir);
    const exited = finished(child);
    child.kill('SIGKILL');
    await exited;
    assert.equal(existsSync(join(dataDir, 'db.lock')), true, 'a killed process cannot remove its lock');
    assert.deepEqual(await listedIds(dataDir), [traceId]);
  });

  test('a second open in the same process is refused too', async () => {
    const dataDir = join(fixture.work, 'same-process');
    const store = await openStore({ dataDir, databaseUrl: '' });
    try {
      await assert.rejects(openStore({ dataDir, databaseUrl: '' }), (error: Error) =>
        error instanceof StoreLockedError && /this very process/.test(error.message));
    } finally {
      await store.close();
    }
    const reopened = await openStore({ dataDir, databaseUrl: '' });
    await reopened.close();
  });

  test('a lock whose pid now belongs to another process (pid reused) is taken over', () => {
    const lockPath = join(fixture.work, 'reused-pid.lock');
    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), command: 'an earlier cotscope', startedAt: '2025-01-01T00:00:00Z', processStart: 'long ago', nonce: 'x' }));
    const lock = acquireFolderLock(lockPath, join(fixture.work, 'db'));
    assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).nonce, lock.holder.nonce);
    lock.release();
    assert.equal(existsSync(lockPath), false);
  });

  test('an unreadable lock file is refused, never guessed about', () => {
    const lockPath = join(fixture.work, 'garbage.lock');
    writeFileSync(lockPath, '{"pid": 12');
    assert.throws(() => acquireFolderLock(lockPath, join(fixture.work, 'db')), /is locked, and the lock file does not say by whom.*delete it only if/);
  });

  test('a lock from another host is never taken over', () => {
    const lockPath = join(fixture.work, 'other-host.lock');
    writeFileSync(lockPath, JSON.stringify({ pid: 1, host: `not-${hostname()}`, command: 'cotscope capture', startedAt: '2025-01-01T00:00:00Z', processStart: null, nonce: 'x' }));
    assert.throws(() => acquireFolderLock(lockPath, join(fixture.work, 'db')), /in use by pid 1 on host not-/);
  });
});
