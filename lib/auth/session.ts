/**
 * Signing in and out of the workbench: a name and password (or an API token) is checked against the
 * store, throttled per name and per client, and answered with an opaque session cookie (httpOnly,
 * SameSite=Strict, Secure over HTTPS, expiring). Every attempt is audited.
 */
import type { Store } from '../store/index';
import { endSession, createSession, userForSession, userForToken, verifyPassword, hasUsers, type AccountUser } from './accounts';
import { audit } from './audit';
import { AccessError } from './errors';
import { bootstrapUsers, cookieToken, SESSION_COOKIE, type HeaderSource } from './identity';
import { signInLimiters } from './rate-limit';

export type SignInRequest = { name: string; password: string } | { token: string };

export class TooManyAttemptsError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed sign-in attempts: try again in ${retryAfterSeconds} s`);
    this.name = 'TooManyAttemptsError';
  }
}

/** Set when a reverse proxy in front of the app writes X-Forwarded-For (otherwise a client could choose its own). */
export const TRUST_PROXY_ENV = 'COTSCOPE_TRUST_PROXY';

/** The client a failure is counted against: the proxy-reported address behind a trusted proxy, else one bucket for direct clients. */
export function clientKey(headers: HeaderSource, env: Record<string, string | undefined> = process.env): string {
  if (env[TRUST_PROXY_ENV] !== '1') return 'direct';
  return headers.get('x-forwarded-for')?.split(',')[0].trim() || headers.get('x-real-ip') || 'direct';
}

export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** Whether the client talks HTTPS to us (directly or through a proxy that says so). */
export function isHttps(request: { url: string; headers: HeaderSource }): boolean {
  return new URL(request.url).protocol === 'https:' || request.headers.get('x-forwarded-proto') === 'https';
}

async function checkCredentials(store: Store, input: SignInRequest): Promise<AccountUser | null> {
  if ('token' in input) return (await userForToken(store.backend, input.token))?.user ?? null;
  return verifyPassword(store.backend, input.name, input.password);
}

export interface SignedIn {
  user: AccountUser;
  cookieValue: string;
  expiresAt: Date;
}

export async function signIn(store: Store, input: SignInRequest, headers: HeaderSource): Promise<SignedIn> {
  await bootstrapUsers(store);
  if (!(await hasUsers(store.backend))) throw new AccessError('local mode: no users exist, so there is nothing to sign in to (add one with `npx cotscope users add`)', 403);
  const { byName, byClient } = signInLimiters();
  const nameKey = 'name' in input ? `name:${input.name}` : 'token';
  const client = `client:${clientKey(headers)}`;
  const waitMs = Math.max(byName.retryAfterMs(nameKey), byClient.retryAfterMs(client));
  if (waitMs > 0) throw new TooManyAttemptsError(Math.ceil(waitMs / 1000));
  const user = await checkCredentials(store, input);
  if (!user) {
    byName.fail(nameKey);
    byClient.fail(client);
    await audit(store.backend, { actor: 'name' in input ? input.name : '(token)', action: 'session.signin_failed', detail: { client: clientKey(headers) } });
    throw new AccessError('wrong name or password', 401);
  }
  byName.reset(nameKey);
  const session = await createSession(store.backend, user.id);
  await audit(store.backend, { actor: user.name, action: 'session.signin', detail: { with: 'token' in input ? 'token' : 'password' } });
  return { user, cookieValue: session.value, expiresAt: session.expiresAt };
}

/** Ends the session named by the request's cookie (if any). */
export async function signOut(store: Store, headers: HeaderSource): Promise<void> {
  const value = cookieToken(headers);
  if (!value) return;
  const user = await userForSession(store.backend, value);
  await endSession(store.backend, value);
  if (user) await audit(store.backend, { actor: user.name, action: 'session.signout' });
}
