/** Access checks shared by route handlers and server components. */
import { hasRole } from './roles';
import type { Identity, Role } from './roles';
import { identify } from './identity';
import type { HeaderSource } from './identity';

export class AccessError extends Error {
  constructor(
    message: string,
    readonly status: 401 | 403,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

/** Resolves the identity and checks it holds at least `minimum`; throws AccessError (401 / 403). */
export function requireRole(headers: HeaderSource, minimum: Role = 'viewer'): Identity {
  const identity = identify(headers);
  if (identity === null) throw new AccessError('sign in required: send Authorization: Bearer <token> or the session cookie', 401);
  if (!hasRole(identity, minimum)) throw new AccessError(`role "${identity.role}" cannot do this (needs ${minimum})`, 403);
  return identity;
}
