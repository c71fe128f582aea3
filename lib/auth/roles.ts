/**
 * The workbench's role model, each role holding everything of the one before it:
 *   viewer      final answers, filtered reasoning, routing; never raw analysis text
 *   annotator   + raw reasoning (and annotations)
 *   researcher  + live runs, batch capture, filter runs, raw exports
 *   admin       + users, tokens, audit log
 */
export const ROLES = ['viewer', 'annotator', 'researcher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** How the identity was established: `local` means no users exist (single local user); `cli` is the operator's shell. */
export type AuthMode = 'local' | 'configured' | 'cli';

export interface Identity {
  name: string;
  role: Role;
  mode: AuthMode;
  /** Set when the caller authenticated with an API token (a script), for the audit log. */
  tokenId?: string;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, annotator: 1, researcher: 2, admin: 3 };

export function hasRole(identity: Identity, minimum: Role): boolean {
  return ROLE_RANK[identity.role] >= ROLE_RANK[minimum];
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** The least role that may read raw chain of thought. */
export const RAW_REASONING_ROLE: Role = 'annotator';

export function canReadRawReasoning(identity: Identity): boolean {
  return hasRole(identity, RAW_REASONING_ROLE);
}
