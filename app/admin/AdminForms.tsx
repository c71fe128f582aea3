'use client';
import { useState } from 'react';
import { ROLES } from '@/lib/auth/roles';

async function post(url: string, body: unknown): Promise<{ ok: boolean; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { ok: response.ok, body: await response.json() };
}

/** Add a user, change a role, remove a user, create or revoke a token (route handlers under /api/admin). */
export function AdminForms({ users }: { users: string[] }) {
  const [message, setMessage] = useState<string | null>(null);
  const run = async (url: string, body: unknown, done: (result: Record<string, unknown>) => string) => {
    const result = await post(url, body);
    setMessage(result.ok ? done(result.body) : String(result.body.error ?? 'failed'));
    if (result.ok && !('token' in result.body)) window.location.reload();
  };
  const field = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
  return (
    <div className="admin-forms">
      <form onSubmit={(event) => { event.preventDefault(); const f = event.currentTarget; void run('/api/admin/users', { action: 'add', name: field(f, 'name'), role: field(f, 'role'), ...(field(f, 'password') ? { password: field(f, 'password') } : {}) }, () => 'user added'); }}>
        <b>Add user</b> <input name="name" placeholder="name" required /> <select name="role">{ROLES.map((role) => <option key={role}>{role}</option>)}</select>{' '}
        <input name="password" type="password" placeholder="password (12+ characters, optional)" /> <button type="submit">Add</button>
      </form>
      <form onSubmit={(event) => { event.preventDefault(); const f = event.currentTarget; void run('/api/admin/users', { action: 'set-role', name: field(f, 'name'), role: field(f, 'role') }, () => 'role changed'); }}>
        <b>Set role</b> <select name="name">{users.map((user) => <option key={user}>{user}</option>)}</select> <select name="role">{ROLES.map((role) => <option key={role}>{role}</option>)}</select> <button type="submit">Set</button>
      </form>
      <form onSubmit={(event) => { event.preventDefault(); const f = event.currentTarget; if (window.confirm(`Remove ${field(f, 'name')}?`)) void run('/api/admin/users', { action: 'remove', name: field(f, 'name') }, () => 'user removed'); }}>
        <b>Remove user</b> <select name="name">{users.map((user) => <option key={user}>{user}</option>)}</select> <button type="submit">Remove</button>
      </form>
      <form onSubmit={(event) => { event.preventDefault(); const f = event.currentTarget; void run('/api/admin/tokens', { action: 'create', user: field(f, 'user'), name: field(f, 'label') || 'token' }, (body) => `new token (shown once): ${String(body.token)}`); }}>
        <b>New token</b> <select name="user">{users.map((user) => <option key={user}>{user}</option>)}</select> <input name="label" placeholder="label" /> <button type="submit">Create</button>
      </form>
      <form onSubmit={(event) => { event.preventDefault(); const f = event.currentTarget; void run('/api/admin/tokens', { action: 'revoke', id: field(f, 'id') }, () => 'token revoked'); }}>
        <b>Revoke token</b> <input name="id" placeholder="token id" required /> <button type="submit">Revoke</button>
      </form>
      {message ? <p className="notice" data-testid="admin-message">{message}</p> : null}
    </div>
  );
}
