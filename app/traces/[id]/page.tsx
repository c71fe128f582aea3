import { notFound, redirect } from 'next/navigation';
import { preload } from 'react-dom';
import { AccessError } from '@/lib/auth/access';
import { requirePageRole } from '@/lib/auth/server-identity';
import { traceIdSchema } from '@/lib/workbench/queries';
import { NotFoundError } from '@/lib/workbench/route';
import { traceView } from '@/lib/workbench/server';
import type { TraceViewData } from '@/lib/workbench/contracts';
import { TraceHeaderView } from './_components/TraceHeaderView';
import { TraceWorkbench } from './_components/TraceWorkbench';

export const dynamic = 'force-dynamic';

/** The collection named by `?queue=`, when the trace was opened from its review queue. */
function queueOf(search: { queue?: string | string[] }): string | null {
  const queue = Array.isArray(search.queue) ? search.queue[0] : search.queue;
  return queue && queue.length <= 200 ? queue : null;
}

export default async function TracePage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ queue?: string | string[] }> }) {
  const parsed = traceIdSchema.safeParse((await params).id);
  if (!parsed.success) notFound();
  let view: TraceViewData;
  try {
    // Raw chain of thought is removed on the server for identities that may not read it.
    view = await traceView(parsed.data, await requirePageRole('viewer'));
  } catch (error) {
    if (error instanceof NotFoundError) notFound();
    if (error instanceof AccessError && error.status === 401) redirect('/login');
    throw error;
  }
  // The heatmap bytes start downloading while the HTML parses, not after hydration. The client's
  // plain fetch() (cors mode, same-origin credentials) picks this response up.
  if (view.routing) preload(`/api/traces/${view.header.id}/heatmap`, { as: 'fetch', crossOrigin: 'anonymous' });
  return (
    <>
      <TraceHeaderView header={view.header} />
      {/* Keyed by trace: the next trace from the queue starts with a fresh selection and focus. */}
      <TraceWorkbench key={view.header.id} view={view} queue={queueOf(await searchParams)} />
    </>
  );
}
