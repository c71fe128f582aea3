/**
 * `cotscope users` and `cotscope audit` as a user runs them (child processes, both backends): the
 * first admin is created from the shell, tokens are printed once, roles change, and a script's
 * COTSCOPE_TOKEN is held to its role by the same access check as the workbench.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { backendsUnderTest } from './helpers';

for (const backend of backendsUnderTest()) {
  describe(`users and audit CLI (${backend.name})`, () => {
    after(() => backend.cleanup());
    const cli = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', ...args], {
        env: { ...process.env, COTSCOPE_BCRYPT_ROUNDS: '4', COTSCOPE_TOKEN: '', ...backend.childEnv, ...options.env }, input: options.input ?? '', encoding: 'utf8',
      });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    let viewerToken = '';

    test('users add creates the first admin with a password read from stdin', () => {
      const added = cli(['users', 'add', 'ada', '--role', 'admin', '--password-stdin'], { input: 'a long admin password\n' });
      assert.equal(added.status, 0, added.stderr);
      assert.match(cli(['users', 'list']).stdout, /ada\s+admin\s+password/);
    });

    test('users token prints a new token once; list shows its name and never the token', () => {
      assert.equal(cli(['users', 'add', 'vera', '--role', 'viewer']).status, 0);
      const made = cli(['users', 'token', 'vera', '--name', 'notebook']);
      assert.equal(made.status, 0, made.stderr);
      viewerToken = made.stdout.trim();
      assert.match(viewerToken, /^cst_[A-Za-z0-9_-]{40,}$/);
      const listed = cli(['users', 'list']).stdout;
      assert.match(listed, /notebook\s+last used never/);
      assert.ok(!listed.includes(viewerToken));
    });

    test('a viewer token cannot manage users, read the audit log or read raw reasoning', () => {
      const asViewer = { env: { COTSCOPE_TOKEN: viewerToken } };
      const users = cli(['users', 'list'], asViewer);
      assert.equal(users.status, 1);
      assert.match(users.stderr, /role "viewer" cannot do this \(needs admin\)/);
      assert.equal(cli(['audit'], asViewer).status, 1);
      assert.match(cli(['traces', 'get', 'x', '--raw-cot'], asViewer).stderr, /needs annotator/);
      assert.equal(cli(['traces', 'list'], asViewer).status, 0, 'a viewer may list traces');
    });

    test('set-role, revoke-token and remove change the store and land in the audit log', () => {
      assert.match(cli(['users', 'set-role', 'vera', 'annotator']).stdout, /viewer -> annotator/);
      assert.match(cli(['users', 'revoke-token', 'notebook', '--user', 'vera']).stdout, /1 token\(s\) revoked/);
      assert.match(cli(['traces', 'list'], { env: { COTSCOPE_TOKEN: viewerToken } }).stderr, /not a valid API token/);
      assert.equal(cli(['users', 'remove', 'vera']).status, 0);
      const log = cli(['audit', '--json']);
      const actions = (JSON.parse(log.stdout) as { action: string }[]).map((record) => record.action);
      for (const action of ['user.add', 'token.create', 'token.use', 'user.role', 'token.revoke', 'user.remove']) assert.ok(actions.includes(action), `${action} audited`);
    });

    test('bad input is named: unknown role, short password', () => {
      assert.match(cli(['users', 'add', 'x', '--role', 'boss']).stderr, /role must be one of viewer, annotator, researcher, admin/);
      assert.match(cli(['users', 'add', 'y', '--role', 'viewer', '--password-stdin'], { input: 'short\n' }).stderr, /at least 12 characters/);
    });
  });
}
