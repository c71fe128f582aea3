'use client';
import { useEffect, useState } from 'react';
import { useRouter } from 'next/navigation';
import Link from 'next/link';
import type { QueueProgress } from '@/lib/annotate/contracts';
import { collectionsApi } from './api';
import { useAnnotations } from './AnnotationContext';

const queueHref = (collection: string, traceId: string) => `/traces/${encodeURIComponent(traceId)}?queue=${encodeURIComponent(collection)}`;

/** Asks the collection's queue for the caller's next trace and opens it in queue mode; says whether there was one. */
export async function openNextInQueue(collection: string, router: { push(href: string): void }): Promise<{ progress: QueueProgress; opened: boolean }> {
  const { traceId, progress } = await collectionsApi.next(collection);
  if (traceId) router.push(queueHref(collection, traceId));
  return { progress, opened: traceId !== null };
}

/** Review-queue mode of the trace view: progress, skip, and submit-and-next (the verdict is the submission). */
export function QueueBar({ collection }: { collection: string }) {
  const router = useRouter();
  const { traceId, me, data } = useAnnotations();
  const [progress, setProgress] = useState<QueueProgress | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const mine = data?.verdicts.find((verdict) => verdict.annotator === me) ?? null;

  useEffect(() => {
    collectionsApi.progress(collection).then(({ progress }) => setProgress(progress), (reason: Error) => setMessage(reason.message));
  }, [collection, mine?.verdict]);

  const go = async (step: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await step();
      const next = await openNextInQueue(collection, router);
      setProgress(next.progress);
      if (!next.opened) setMessage('Queue finished: no trace left for you in this collection.');
    } catch (reason) {
      setMessage((reason as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const own = progress?.perAnnotator.find((entry) => entry.annotator === me);
  return (
    <nav className="queue-bar" aria-label="Review queue" data-testid="queue-bar">
      <span>
        Queue <Link href={`/collections/${encodeURIComponent(collection)}`}>{collection}</Link>
        {progress ? <small data-testid="queue-progress"> · you: {own?.done ?? 0} done of {progress.total}</small> : null}
      </span>
      <button type="button" disabled={busy} onClick={() => void go(() => collectionsApi.skip(collection, traceId))}>skip</button>
      <button type="button" disabled={busy || !mine} title={mine ? undefined : 'set a verdict first (shift + S / U / N)'} onClick={() => void go(async () => {})} data-testid="submit-next">
        submit and next
      </button>
      {message ? <span className="notice" role="status">{message}</span> : null}
    </nav>
  );
}
