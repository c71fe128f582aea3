import { redirect } from 'next/navigation';
import { currentIdentity } from '@/lib/auth/server-identity';
import { canReadRawReasoning } from '@/lib/auth/roles';
import { JobsBoard } from './_components/JobsBoard';

export const dynamic = 'force-dynamic';

export default async function JobsPage() {
  const identity = await currentIdentity();
  if (identity === null) redirect('/login');
  return (
    <>
      <h1>Capture jobs</h1>
      <JobsBoard canChange={canReadRawReasoning(identity)} />
    </>
  );
}
