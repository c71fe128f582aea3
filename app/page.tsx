import { currentIdentity } from '@/lib/auth/server-identity';
import { hasRole } from '@/lib/auth/roles';
import { TraceTable } from './_traces/TraceTable';

export const dynamic = 'force-dynamic';

export default async function TracesPage() {
  const identity = await currentIdentity();
  return (
    <>
      <h1>Traces</h1>
      <TraceTable canCurate={identity !== null && hasRole(identity, 'researcher')} />
    </>
  );
}
