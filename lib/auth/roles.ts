/**
 * The workbench's role model. Raw chain of thought (the harmony `analysis` channel) is sensitive:
 * only researchers and admins may read it; viewers see final answers and routing only.
 */
export const ROLES = ['viewer', 'researcher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** How the identity was established: `local` means no users are configured (single local user). */
export type AuthMode = 'local' | 'configured';

export interface Identity {
  name: string;
  role: Role;
  mode: AuthMode;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, researcher: 1, admin: 2 };

export function hasRole(identity: Identity, minimum: Role): boolean {
  return ROLE_RANK[identity.role] >= ROLE_RANK[minimum];
}

export function canReadRawReasoning(identity: Identity): boolean {
  return hasRole(identity, 'researcher');
}

/** Channels whose text is raw chain of thought and must never reach a viewer. */
export const RAW_REASONING_CHANNELS: ReadonlySet<string> = new Set(['analysis']);

export function isRawReasoningChannel(channel: string | null): boolean {
  return channel !== null && RAW_REASONING_CHANNELS.has(channel);
}
