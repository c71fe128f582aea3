/** Identity inside server components and pages (reads the request headers through next/headers). */
import { headers } from 'next/headers';
import { requireRole } from './access';
import type { Identity, Role } from './roles';
import { identify } from './identity';

export async function currentIdentity(): Promise<Identity | null> {
  return identify(await headers());
}

export async function requirePageRole(minimum: Role = 'viewer'): Promise<Identity> {
  return requireRole(await headers(), minimum);
}
