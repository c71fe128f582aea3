/**
 * The CLI's side of the one access check. A command that touches the store runs as the user of
 * COTSCOPE_TOKEN when it is set (an API token: a script), else as the operator of this shell, who
 * holds the database credentials and so every right (role admin, mode `cli`).
 */
import os from 'node:os';
import { checkRole } from '../auth/access';
import { identifyToken } from '../auth/identity';
import type { Identity, Role } from '../auth/roles';
import type { Store } from '../store/index';

export const CLI_TOKEN_ENV = 'COTSCOPE_TOKEN';

export async function cliIdentity(store: Store, env: Record<string, string | undefined> = process.env): Promise<Identity> {
  const token = env[CLI_TOKEN_ENV];
  if (token) {
    const identity = await identifyToken(store, token);
    if (!identity) throw new Error(`${CLI_TOKEN_ENV} is not a valid API token (unknown or revoked)`);
    return identity;
  }
  return { name: os.userInfo().username || 'operator', role: 'admin', mode: 'cli' };
}

/** The caller, when it holds at least `minimum`; throws naming the role needed. */
export async function requireCliRole(store: Store, minimum: Role, env: Record<string, string | undefined> = process.env): Promise<Identity> {
  return checkRole(await cliIdentity(store, env), minimum);
}

/** Reads all of stdin (for --password-stdin), without the trailing newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
