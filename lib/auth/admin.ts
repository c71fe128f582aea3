/**
 * Account changes as an admin makes them, each written to the audit log: the one implementation
 * behind `cotscope users ...` and the admin page's route handlers.
 */
import type { Backend } from '../store/backend';
import { addUser, createToken, removeUser, revokeToken, setPassword, setRole } from './accounts';
import { audit } from './audit';
import type { Role } from './roles';

export async function adminAddUser(backend: Backend, actor: string, input: { name: string; role: Role; password?: string }): Promise<void> {
  await addUser(backend, input);
  await audit(backend, { actor, action: 'user.add', target: input.name, detail: { role: input.role, password: input.password !== undefined } });
}

/** Returns the role the user had. */
export async function adminSetRole(backend: Backend, actor: string, name: string, role: Role): Promise<Role> {
  const before = await setRole(backend, name, role);
  await audit(backend, { actor, action: 'user.role', target: name, detail: { from: before, to: role } });
  return before;
}

export async function adminSetPassword(backend: Backend, actor: string, name: string, password: string): Promise<void> {
  await setPassword(backend, name, password);
  await audit(backend, { actor, action: 'user.password', target: name });
}

export async function adminRemoveUser(backend: Backend, actor: string, name: string): Promise<void> {
  await removeUser(backend, name);
  await audit(backend, { actor, action: 'user.remove', target: name });
}

/** A new API token; the returned token is the only copy. */
export async function adminCreateToken(backend: Backend, actor: string, user: string, label: string): Promise<{ id: string; token: string }> {
  const created = await createToken(backend, user, label);
  await audit(backend, { actor, action: 'token.create', target: user, detail: { tokenId: created.id, name: label } });
  return created;
}

export async function adminRevokeToken(backend: Backend, actor: string, idOrLabel: string, user?: string): Promise<number> {
  const count = await revokeToken(backend, idOrLabel, user);
  await audit(backend, { actor, action: 'token.revoke', target: user ?? null, detail: { token: idOrLabel, count } });
  return count;
}
