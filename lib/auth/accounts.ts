/**
 * Accounts in the store: users with a role and a bcrypt password hash, API tokens (only their
 * SHA-256 is stored; the token is shown once), and browser sessions (an opaque random cookie value,
 * stored as its SHA-256, with an expiry). Plain functions over the store's backend.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Backend } from '../store/backend';
import type { Role } from './roles';

/** bcrypt cost; COTSCOPE_BCRYPT_ROUNDS may lower it for tests (never below 4, bcrypt's minimum). */
function bcryptRounds(): number {
  const configured = Number(process.env.COTSCOPE_BCRYPT_ROUNDS);
  return Number.isInteger(configured) && configured >= 4 && configured <= 15 ? configured : 12;
}

/** Compared against when the user does not exist, so a wrong name costs as long as a wrong password. */
const DUMMY_HASH = '$2b$12$huMWd9ORs6.M8qebyJp1T.Usq9gy.hf3qm3muVIvPMWamjl8zKfvK';

export const TOKEN_PREFIX = 'cst_';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class AccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountError';
  }
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function secret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export interface AccountUser {
  id: string;
  name: string;
  role: Role;
}

export interface TokenInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface UserInfo extends AccountUser {
  createdAt: string;
  hasPassword: boolean;
  tokens: TokenInfo[];
}

export function checkUserName(name: string): string {
  if (!NAME_PATTERN.test(name)) throw new AccountError(`user name "${name.slice(0, 64)}" must be 1-64 letters, digits, . _ @ - (starting with a letter or digit)`);
  return name;
}

export function checkPassword(password: string): string {
  if (password.length < 12) throw new AccountError('password must be at least 12 characters');
  if (password.length > 72) throw new AccountError('password must be at most 72 characters (bcrypt reads no further)');
  return password;
}

export async function hasUsers(backend: Backend): Promise<boolean> {
  return (await backend.prisma.user.count()) > 0;
}

async function userNamed(backend: Backend, name: string) {
  const user = await backend.prisma.user.findUnique({ where: { name } });
  if (!user) throw new AccountError(`no user named "${name}"`);
  return user;
}

export async function addUser(backend: Backend, input: { name: string; role: Role; password?: string }): Promise<AccountUser> {
  checkUserName(input.name);
  if (await backend.prisma.user.findUnique({ where: { name: input.name } })) throw new AccountError(`user "${input.name}" exists already`);
  const passwordHash = input.password === undefined ? null : await bcrypt.hash(checkPassword(input.password), bcryptRounds());
  const user = await backend.prisma.user.create({ data: { id: randomUUID(), name: input.name, role: input.role, passwordHash } });
  return { id: user.id, name: user.name, role: user.role };
}

export async function setPassword(backend: Backend, name: string, password: string): Promise<void> {
  const user = await userNamed(backend, name);
  await backend.prisma.user.update({ where: { id: user.id }, data: { passwordHash: await bcrypt.hash(checkPassword(password), bcryptRounds()) } });
  await backend.prisma.session.deleteMany({ where: { userId: user.id } });
}

export async function listUsers(backend: Backend): Promise<UserInfo[]> {
  const users = await backend.prisma.user.findMany({ orderBy: { name: 'asc' }, include: { tokens: { orderBy: { createdAt: 'asc' } } } });
  return users.map((user) => ({
    id: user.id,
    name: user.name,
    role: user.role,
    createdAt: user.createdAt.toISOString(),
    hasPassword: user.passwordHash !== null,
    tokens: user.tokens.map((token) => ({
      id: token.id, name: token.name, createdAt: token.createdAt.toISOString(),
      lastUsedAt: token.lastUsedAt?.toISOString() ?? null, revokedAt: token.revokedAt?.toISOString() ?? null,
    })),
  }));
}

/** Changes a role; the user's sessions end so the new role applies at once. Returns the old role. */
export async function setRole(backend: Backend, name: string, role: Role): Promise<Role> {
  const user = await userNamed(backend, name);
  await backend.prisma.user.update({ where: { id: user.id }, data: { role } });
  await backend.prisma.session.deleteMany({ where: { userId: user.id } });
  return user.role;
}

/** Removes a user with their tokens and sessions. */
export async function removeUser(backend: Backend, name: string): Promise<void> {
  const user = await userNamed(backend, name);
  await backend.prisma.user.delete({ where: { id: user.id } });
}

/** A new API token for `userName`; the returned token is the only copy. */
export async function createToken(backend: Backend, userName: string, label: string): Promise<{ id: string; token: string }> {
  const user = await userNamed(backend, userName);
  return insertToken(backend, user.id, label, secret(TOKEN_PREFIX));
}

async function insertToken(backend: Backend, userId: string, label: string, token: string): Promise<{ id: string; token: string }> {
  const id = randomUUID().slice(0, 8);
  await backend.prisma.apiToken.create({ data: { id, userId, name: label.slice(0, 100) || 'token', tokenHash: sha256(token) } });
  return { id, token };
}

/** Revokes a token by id, or every token of `userName` with that label. Returns how many were revoked. */
export async function revokeToken(backend: Backend, idOrLabel: string, userName?: string): Promise<number> {
  const where = userName === undefined
    ? { id: idOrLabel }
    : { OR: [{ id: idOrLabel }, { name: idOrLabel }], user: { name: userName } };
  const revoked = await backend.prisma.apiToken.updateMany({ where: { ...where, revokedAt: null }, data: { revokedAt: new Date() } });
  if (revoked.count === 0) throw new AccountError(`no active token ${JSON.stringify(idOrLabel)}${userName ? ` of user "${userName}"` : ''}`);
  return revoked.count;
}

/** How often a token's last-used time is written (and its use audited): at most once per interval. */
export const TOKEN_USE_INTERVAL_MS = 60 * 60 * 1000;

/** The user a presented API token belongs to (null when unknown or revoked); `firstUseInInterval` says to audit it. */
export async function userForToken(backend: Backend, token: string): Promise<{ user: AccountUser; tokenId: string; tokenName: string; firstUseInInterval: boolean } | null> {
  const row = await backend.prisma.apiToken.findUnique({ where: { tokenHash: sha256(token) }, include: { user: true } });
  if (!row || row.revokedAt !== null) return null;
  const now = new Date();
  const firstUseInInterval = row.lastUsedAt === null || now.getTime() - row.lastUsedAt.getTime() >= TOKEN_USE_INTERVAL_MS;
  if (firstUseInInterval) await backend.prisma.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  return { user: { id: row.user.id, name: row.user.name, role: row.user.role }, tokenId: row.id, tokenName: row.name, firstUseInInterval };
}

/** The user whose name and password match, or null; takes as long for an unknown name. */
export async function verifyPassword(backend: Backend, name: string, password: string): Promise<AccountUser | null> {
  const user = NAME_PATTERN.test(name) ? await backend.prisma.user.findUnique({ where: { name } }) : null;
  const matches = await bcrypt.compare(password.slice(0, 72), user?.passwordHash ?? DUMMY_HASH);
  return user && user.passwordHash !== null && matches ? { id: user.id, name: user.name, role: user.role } : null;
}

/** Starts a session; returns the cookie value (the only copy) and its expiry. */
export async function createSession(backend: Backend, userId: string, ttlMs = SESSION_TTL_MS): Promise<{ value: string; expiresAt: Date }> {
  const value = secret('css_');
  const expiresAt = new Date(Date.now() + ttlMs);
  await backend.prisma.session.deleteMany({ where: { expiresAt: { lt: new Date() } } });
  await backend.prisma.session.create({ data: { id: sha256(value), userId, expiresAt } });
  return { value, expiresAt };
}

export async function userForSession(backend: Backend, value: string): Promise<AccountUser | null> {
  const row = await backend.prisma.session.findUnique({ where: { id: sha256(value) }, include: { user: true } });
  if (!row || row.expiresAt.getTime() <= Date.now()) return null;
  return { id: row.user.id, name: row.user.name, role: row.user.role };
}

export async function endSession(backend: Backend, value: string): Promise<void> {
  await backend.prisma.session.deleteMany({ where: { id: sha256(value) } });
}

/**
 * COTSCOPE_USERS as a bootstrap import: each listed user is created when missing (with the listed
 * role) and the listed token added as a hashed API token named "COTSCOPE_USERS" when not yet stored.
 * The database stays the store of record: later role changes there are kept.
 */
export async function importBootstrapUsers(backend: Backend, users: { name: string; role: Role; token: string }[]): Promise<void> {
  for (const entry of users) {
    const existing = await backend.prisma.user.findUnique({ where: { name: entry.name } });
    const user = existing ?? (await backend.prisma.user.create({ data: { id: randomUUID(), name: checkUserName(entry.name), role: entry.role } }));
    const known = await backend.prisma.apiToken.findUnique({ where: { tokenHash: sha256(entry.token) } });
    if (!known) await insertToken(backend, user.id, 'COTSCOPE_USERS', entry.token);
  }
}
