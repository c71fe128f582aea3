/**
 * Accounts in the store, on both backends: users with roles and bcrypt passwords, hashed revocable
 * API tokens with last-used times, opaque expiring sessions, COTSCOPE_USERS as a bootstrap import,
 * sign-in throttling, and the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore, type Store } from '../../lib/store/index';
import {
  addUser, createSession, createToken, identify, listAudit, listUsers, removeUser, revokeToken, setRole, SESSION_COOKIE, sha256, signIn,
  signOut, TooManyAttemptsError, userForSession,
} from '../../lib/auth';
import { backendsUnderTest } from './helpers';

process.env.COTSCOPE_BCRYPT_ROUNDS = '4';
const PASSWORD = 'correct horse battery';
const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });
const cookie = (value: string) => new Headers({ cookie: `other=1; ${SESSION_COOKIE}=${encodeURIComponent(value)}` });

for (const backend of backendsUnderTest()) {
  describe(`accounts (${backend.name})`, () => {
    let store: Store;
    before(async () => { store = await openStore(backend.options); });
    after(async () => { await store.close(); await backend.cleanup(); });
    const env = {};

    test('with no users in the store the local user is a researcher (local mode)', async () => {
      assert.deepEqual(await identify(new Headers(), { store, env }), { name: 'local', role: 'researcher', mode: 'local' });
    });

    test('once a user exists, nobody is signed in without a token or session', async () => {
      await addUser(store.backend, { name: 'ada', role: 'admin', password: PASSWORD });
      assert.equal(await identify(new Headers(), { store, env }), null);
      assert.equal(await identify(bearer('cst_wrong'), { store, env }), null);
    });

    test('passwords are stored as bcrypt hashes, never as given', async () => {
      const row = await store.backend.prisma.user.findUnique({ where: { name: 'ada' } });
      assert.match(row!.passwordHash!, /^\$2[aby]\$/);
      assert.ok(!row!.passwordHash!.includes(PASSWORD));
    });

    test('an API token identifies its user, is stored as a hash, records its last use, and stops working when revoked', async () => {
      await addUser(store.backend, { name: 'vera', role: 'viewer' });
      const { id, token } = await createToken(store.backend, 'vera', 'laptop');
      const stored = await store.backend.prisma.apiToken.findUnique({ where: { id } });
      assert.equal(stored!.tokenHash, sha256(token));
      assert.equal(stored!.lastUsedAt, null);
      assert.deepEqual(await identify(bearer(token), { store, env }), { name: 'vera', role: 'viewer', mode: 'configured', tokenId: id });
      assert.ok((await store.backend.prisma.apiToken.findUnique({ where: { id } }))!.lastUsedAt instanceof Date);
      assert.equal((await listAudit(store.backend, { action: 'token.use' }))[0].actor, `vera (token ${id})`);
      await revokeToken(store.backend, 'laptop', 'vera');
      assert.equal(await identify(bearer(token), { store, env }), null);
    });

    test('sign-in with name and password yields an opaque session cookie value stored only as a hash', async () => {
      const signed = await signIn(store, { name: 'ada', password: PASSWORD }, new Headers());
      assert.ok(!signed.cookieValue.includes('ada') && signed.cookieValue.length >= 40);
      assert.equal(await store.backend.prisma.session.count({ where: { id: signed.cookieValue } }), 0, 'the cookie value itself is not stored');
      assert.equal((await identify(cookie(signed.cookieValue), { store, env }))?.name, 'ada');
      await signOut(store, cookie(signed.cookieValue));
      assert.equal(await identify(cookie(signed.cookieValue), { store, env }), null, 'logout ends the session');
    });

    test('an expired session is no session', async () => {
      const user = (await listUsers(store.backend)).find((entry) => entry.name === 'ada')!;
      const session = await createSession(store.backend, user.id, -1000);
      assert.equal(await userForSession(store.backend, session.value), null);
    });

    test('a role change applies at once and ends the user\'s sessions', async () => {
      const signed = await signIn(store, { name: 'ada', password: PASSWORD }, new Headers());
      assert.equal(await setRole(store.backend, 'ada', 'annotator'), 'admin');
      assert.equal(await identify(cookie(signed.cookieValue), { store, env }), null);
      await setRole(store.backend, 'ada', 'admin');
    });

    test('sign-in is throttled: after 10 wrong passwords for a name even the right one is refused for a while', async () => {
      await addUser(store.backend, { name: `target-${backend.name}`, role: 'viewer', password: PASSWORD });
      const headers = new Headers({ 'x-forwarded-for': `10.0.0.${backend.name === 'pglite' ? 1 : 2}` });
      for (let i = 0; i < 10; i++) await assert.rejects(signIn(store, { name: `target-${backend.name}`, password: 'wrong password!!' }, headers), /wrong name or password/);
      await assert.rejects(signIn(store, { name: `target-${backend.name}`, password: PASSWORD }, headers), TooManyAttemptsError);
      assert.ok((await listAudit(store.backend, { action: 'session.signin_failed' })).length >= 10, 'failures are audited');
    });

    test('COTSCOPE_USERS is imported once as users with hashed tokens; the store stays the record', async () => {
      const bootEnv = { COTSCOPE_USERS: JSON.stringify([{ name: 'boot', role: 'researcher', token: 'boot-token-0123456789abcdef' }]) };
      assert.equal((await identify(bearer('boot-token-0123456789abcdef'), { store, env: bootEnv }))?.role, 'researcher');
      await setRole(store.backend, 'boot', 'viewer');
      assert.equal((await identify(bearer('boot-token-0123456789abcdef'), { store, env: bootEnv }))?.role, 'viewer', 'a later role change is kept');
      assert.equal(await store.backend.prisma.apiToken.count({ where: { tokenHash: 'boot-token-0123456789abcdef' } }), 0);
    });

    test('removing a user removes their tokens and sessions', async () => {
      const { token } = await createToken(store.backend, 'boot', 'x');
      await removeUser(store.backend, 'boot');
      assert.equal(await identify(bearer(token), { store, env }), null);
    });
  });
}
