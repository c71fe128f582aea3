import { redirect } from 'next/navigation';
import { AccessError } from '@/lib/auth/access';
import { requirePageRole } from '@/lib/auth/server-identity';
import { listUsers } from '@/lib/auth/accounts';
import { listAudit } from '@/lib/auth/audit';
import { store } from '@/lib/workbench/server';
import { AdminForms } from './AdminForms';

export const dynamic = 'force-dynamic';

/** Users, their tokens and the audit log; admins only. */
export default async function AdminPage() {
  try {
    await requirePageRole('admin');
  } catch (error) {
    if (error instanceof AccessError && error.status === 401) redirect('/login');
    if (error instanceof AccessError) return <p className="notice">The admin page needs the admin role.</p>;
    throw error;
  }
  const { backend } = await store();
  const [users, events] = await Promise.all([listUsers(backend), listAudit(backend, { limit: 200 })]);
  return (
    <>
      <h1>Admin</h1>
      <h2>Users and tokens</h2>
      <table data-testid="admin-users">
        <thead><tr><th>name</th><th>role</th><th>password</th><th>tokens (id, name, last used)</th></tr></thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id} data-user={user.name}>
              <td>{user.name}</td>
              <td>{user.role}</td>
              <td>{user.hasPassword ? 'yes' : 'no'}</td>
              <td>
                {user.tokens.map((token) => (
                  <div key={token.id}>
                    <code>{token.id}</code> {token.name} · {token.revokedAt ? `revoked ${token.revokedAt.slice(0, 16)}` : `last used ${token.lastUsedAt?.slice(0, 16) ?? 'never'}`}
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <AdminForms users={users.map((user) => user.name)} />
      <h2>Audit log</h2>
      <table data-testid="admin-audit">
        <thead><tr><th>time (UTC)</th><th>action</th><th>actor</th><th>target</th><th>detail</th></tr></thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.id}>
              <td>{event.at.replace('T', ' ').slice(0, 19)}</td>
              <td>{event.action}</td>
              <td>{event.actor}</td>
              <td>{event.target ?? ''}</td>
              <td><code>{event.detail ? JSON.stringify(event.detail) : ''}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
