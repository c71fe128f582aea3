import { redirect } from 'next/navigation';
import { currentIdentity } from '@/lib/auth/server-identity';
import { hasRole } from '@/lib/auth/roles';
import { RunConsole } from './_components/RunConsole';

export const dynamic = 'force-dynamic';

export default async function RunPage() {
  const identity = await currentIdentity();
  if (identity === null) redirect('/login');
  if (!hasRole(identity, 'researcher')) {
    return <p className="notice">Live runs stream raw chain of thought and need the researcher role (you are a {identity.role}).</p>;
  }
  return (
    <>
      <h1>Live run</h1>
      <RunConsole />
    </>
  );
}
