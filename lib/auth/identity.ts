/**
 * Who is asking, resolved on the server against the accounts in the store: an `Authorization:
 * Bearer` API token (scripts, the CLI) or the opaque session cookie (browsers). With no users in the
 * store the single local user is a researcher (local mode, `npm start`'s default on 127.0.0.1).
 */
import type { Store } from '../store/index';
import { processStore } from '../store/process';
import type { Identity } from './roles';
import { parseUsers, USERS_ENV } from './users';
import { hasUsers, importBootstrapUsers, userForSession, userForToken } from './accounts';
import { audit } from './audit';
import type { HeaderSource } from './request-guard';

export const SESSION_COOKIE = 'cotscope_session';

export const LOCAL_IDENTITY: Identity = { name: 'local', role: 'researcher', mode: 'local' };

export type { HeaderSource };

export function bearerToken(headers: HeaderSource): string | null {
  const authorization = headers.get('authorization');
  const match = authorization?.match(/^Bearer\s+(\S+)\s*$/i);
  return match ? match[1] : null;
}

export function cookieToken(headers: HeaderSource): string | null {
  const cookie = headers.get('cookie');
  if (!cookie) return null;
  for (const part of cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name !== SESSION_COOKIE) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return null; // a malformed cookie is no session, not a server error
    }
  }
  return null;
}

export interface IdentifyOptions {
  store?: Store;
  env?: Record<string, string | undefined>;
}

const imported = new WeakMap<Store, Map<string, Promise<void>>>();

/** Imports COTSCOPE_USERS into the store once per store and value (throws AuthConfigError when malformed). */
export function bootstrapUsers(store: Store, env: Record<string, string | undefined> = process.env): Promise<void> {
  const raw = env[USERS_ENV] ?? '';
  const users = parseUsers(raw);
  if (users === null) return Promise.resolve();
  let byValue = imported.get(store);
  if (!byValue) imported.set(store, (byValue = new Map()));
  let done = byValue.get(raw);
  if (!done) {
    done = importBootstrapUsers(store.backend, users).catch((error: unknown) => {
      byValue.delete(raw);
      throw error;
    });
    byValue.set(raw, done);
  }
  return done;
}

/** Whether the workbench runs in local mode: no users in the store (after the bootstrap import). */
export async function isLocalMode(options: IdentifyOptions = {}): Promise<boolean> {
  const store = options.store ?? (await processStore());
  await bootstrapUsers(store, options.env);
  return !(await hasUsers(store.backend));
}

/** The identity behind an API token (null when unknown or revoked); its use is audited once an hour. */
export async function identifyToken(store: Store, token: string): Promise<Identity | null> {
  const found = await userForToken(store.backend, token);
  if (!found) return null;
  const identity: Identity = { name: found.user.name, role: found.user.role, mode: 'configured', tokenId: found.tokenId };
  if (found.firstUseInInterval) await audit(store.backend, { actor: `${found.user.name} (token ${found.tokenId})`, action: 'token.use', target: found.tokenName });
  return identity;
}

/** Null means "not signed in"; local mode (no users) always yields the local researcher. */
export async function identify(headers: HeaderSource, options: IdentifyOptions = {}): Promise<Identity | null> {
  const store = options.store ?? (await processStore());
  if (await isLocalMode({ store, env: options.env })) return LOCAL_IDENTITY;
  const bearer = bearerToken(headers);
  if (bearer !== null) return identifyToken(store, bearer);
  const session = cookieToken(headers);
  const user = session ? await userForSession(store.backend, session) : null;
  return user ? { name: user.name, role: user.role, mode: 'configured' } : null;
}
