/**
 * The one access check: every route handler (through lib/workbench/route.ts), server page and CLI
 * command resolves the caller here and needs at least a role.
 */
import { hasRole } from './roles';
import type { Identity, Role } from './roles';
import { identify } from './identity';
import type { HeaderSource, IdentifyOptions } from './identity';
import { AccessError } from './errors';

export { AccessError };

/** Checks `identity` holds at least `minimum`; throws AccessError (401 when nobody, 403 when too little). */
export function checkRole(identity: Identity | null, minimum: Role): Identity {
  if (identity === null) throw new AccessError('sign in required: send Authorization: Bearer <token> or the session cookie', 401);
  if (!hasRole(identity, minimum)) throw new AccessError(`role "${identity.role}" cannot do this (needs ${minimum})`, 403);
  return identity;
}

/** Resolves the identity and checks it holds at least `minimum`; throws AccessError (401 / 403). */
export async function requireRole(headers: HeaderSource, minimum: Role = 'viewer', options: IdentifyOptions = {}): Promise<Identity> {
  return checkRole(await identify(headers, options), minimum);
}
