import { redirect } from 'next/navigation';
import { z } from 'zod';
import { requirePageRole } from '@/lib/auth/server-identity';
import { AccessError } from '@/lib/auth/access';
import { traceIdSchema } from '@/lib/workbench/queries';
import { traceView } from '@/lib/workbench/server';
import { clientError } from '@/lib/workbench/route';
import type { Identity } from '@/lib/auth/roles';
import type { TraceViewData } from '@/lib/workbench/contracts';
import { CompareView } from './_components/CompareView';

export const dynamic = 'force-dynamic';

const compareSchema = z.object({ a: traceIdSchema.optional(), b: traceIdSchema.optional() });

async function viewOrError(id: string | undefined, identity: Identity): Promise<TraceViewData | string | null> {
  if (!id) return null;
  return traceView(id, identity).catch((error: unknown) => clientError(error).message);
}

export default async function ComparePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const parsed = compareSchema.safeParse(await searchParams);
  let identity: Identity;
  try {
    identity = await requirePageRole('viewer');
  } catch (error) {
    if (error instanceof AccessError && error.status === 401) redirect('/login');
    throw error;
  }
  const { a, b } = parsed.success ? parsed.data : {};
  const [left, right] = await Promise.all([viewOrError(a, identity), viewOrError(b, identity)]);
  return (
    <>
      <h1>Compare traces</h1>
      <form className="filters" method="get">
        <label>trace A<input name="a" defaultValue={a ?? ''} size={40} /></label>
        <label>trace B<input name="b" defaultValue={b ?? ''} size={40} /></label>
        <button type="submit">Compare</button>
      </form>
      {!parsed.success ? <p className="error">{parsed.error.issues[0].message}</p> : null}
      {typeof left === 'string' ? <p className="error">A: {left}</p> : null}
      {typeof right === 'string' ? <p className="error">B: {right}</p> : null}
      {left && right && typeof left !== 'string' && typeof right !== 'string' ? <CompareView a={left} b={right} /> : <p className="muted">Pick two trace ids.</p>}
    </>
  );
}
