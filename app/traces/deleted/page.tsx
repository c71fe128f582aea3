import { redirect } from 'next/navigation';
import { AccessError } from '@/lib/auth/access';
import { requirePageRole } from '@/lib/auth/server-identity';
import { listDeletedTraces, retentionDays } from '@/lib/review/curation';
import { backend } from '@/lib/workbench/server';
import { RestoreButton } from './RestoreButton';

export const dynamic = 'force-dynamic';

/** Soft-deleted traces (researchers): each can be restored until the retention period purges it. */
export default async function DeletedTracesPage() {
  try {
    await requirePageRole('researcher');
  } catch (error) {
    if (error instanceof AccessError && error.status === 401) redirect('/login');
    if (error instanceof AccessError) return <p className="notice">Deleted traces are shown to researchers.</p>;
    throw error;
  }
  const deleted = await listDeletedTraces(await backend());
  return (
    <>
      <h1>Deleted traces</h1>
      <p className="muted">Hidden everywhere; purged for good {retentionDays()} days after deletion (COTSCOPE_RETENTION_DAYS).</p>
      {deleted.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <table data-testid="deleted-traces">
          <thead><tr><th>trace</th><th>deleted</th><th>by</th><th /></tr></thead>
          <tbody>
            {deleted.map((trace) => (
              <tr key={trace.id} data-trace-id={trace.id}>
                <td><code>{trace.id}</code></td><td>{new Date(trace.deletedAt).toLocaleString()}</td><td>{trace.deletedBy ?? ''}</td>
                <td><RestoreButton traceId={trace.id} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
