/**
 * Who is asking: resolved on the server from a `Authorization: Bearer` header or the session
 * cookie, against the configured users. With no users configured the single local user is a researcher.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Identity } from './roles';
import { parseUsers, USERS_ENV } from './users';
import type { ConfiguredUser } from './users';

export const SESSION_COOKIE = 'cotscope_session';

export const LOCAL_IDENTITY: Identity = { name: 'local', role: 'researcher', mode: 'local' };

/** The subset of `Headers` the resolver needs (works for Request.headers and next/headers). */
export interface HeaderSource {
  get(name: string): string | null;
}

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

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function userWithToken(users: ConfiguredUser[], token: string): ConfiguredUser | null {
  const presented = digest(token);
  return users.find((user) => timingSafeEqual(digest(user.token), presented)) ?? null;
}

/** Null means "not signed in" under configured auth; local mode always yields the local researcher. */
export function identify(headers: HeaderSource, env: Record<string, string | undefined> = process.env): Identity | null {
  const users = parseUsers(env[USERS_ENV]);
  if (users === null) return LOCAL_IDENTITY;
  const token = bearerToken(headers) ?? cookieToken(headers);
  if (token === null) return null;
  const user = userWithToken(users, token);
  return user ? { name: user.name, role: user.role, mode: 'configured' } : null;
}
