/**
 * Configured users, read from the `COTSCOPE_USERS` environment variable: a JSON array of
 * `{ "name": "alice", "role": "researcher", "token": "<secret>" }`. The token is what a client sends
 * as `Authorization: Bearer <token>` or in the session cookie. Unset or empty means local mode.
 */
import { z } from 'zod';
import { ROLES } from './roles';
import type { Role } from './roles';

export const USERS_ENV = 'COTSCOPE_USERS';

const userSchema = z.object({
  name: z.string().min(1),
  role: z.enum(ROLES),
  token: z.string().min(16, 'token must be at least 16 characters'),
});
const usersSchema = z.array(userSchema);

export interface ConfiguredUser {
  name: string;
  role: Role;
  token: string;
}

export class AuthConfigError extends Error {
  constructor(message: string) {
    super(`${USERS_ENV}: ${message}`);
    this.name = 'AuthConfigError';
  }
}

/** Parses the users variable; null when auth is not configured (local mode). Throws AuthConfigError naming the problem. */
export function parseUsers(raw: string | undefined): ConfiguredUser[] | null {
  if (raw === undefined || raw.trim() === '') return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new AuthConfigError(`not valid JSON (${(error as Error).message})`);
  }
  const parsed = usersSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AuthConfigError(`entry ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const tokens = new Set<string>();
  for (const user of parsed.data) {
    if (tokens.has(user.token)) throw new AuthConfigError(`user "${user.name}" reuses another user's token`);
    tokens.add(user.token);
  }
  return parsed.data;
}
