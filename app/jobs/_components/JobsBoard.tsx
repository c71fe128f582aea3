'use client';
import { useCallback, useEffect, useState } from 'react';
import type { JobsOverview } from '@/lib/jobs/types';
import { BatchForm } from './BatchForm';

const REFRESH_MS = 2000;

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  const whole = Math.round(seconds);
  return whole >= 3600 ? `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** Queue progress, refreshed every two seconds; retry and cancel need the researcher role (checked on the server too). */
export function JobsBoard({ canChange }: { canChange: boolean }) {
  const [overview, setOverview] = useState<JobsOverview | null | undefined>(undefined);
  const [message, setMessage] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    const response = await fetch('/api/jobs', { cache: 'no-store' });
    const body = (await response.json()) as { overview?: JobsOverview | null; error?: string };
    if (!response.ok) setMessage(body.error ?? `error ${response.status}`);
    else setOverview(body.overview ?? null);
  }, []);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);

  const change = async (action: 'retry' | 'cancel', selector: { collection: string | null } | { jobIds: string[] }) => {
    const response = await fetch('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action, ...selector }) });
    const body = (await response.json()) as { changed?: number; error?: string };
    setMessage(response.ok ? `${action}: ${body.changed} job(s)` : (body.error ?? `error ${response.status}`));
    await refresh();
  };

  if (overview === undefined) return <p>loading...</p>;
  if (overview === null) {
    return <p className="notice">No job queue: the store is embedded PGlite, so captures run inside the app one at a time. Set DATABASE_URL to a PostgreSQL server to queue captures for <code>cotscope worker</code> processes.</p>;
  }
  return (
    <div className="jobs" data-testid="jobs-board">
      {message ? <p className="notice" data-testid="jobs-message">{message}</p> : null}
      {canChange ? <BatchForm onQueued={(text) => { setMessage(text); void refresh(); }} /> : null}
      <h2>Collections</h2>
      <table className="data">
        <thead>
          <tr><th>collection</th><th>done</th><th>running</th><th>failed</th><th>queued</th><th>cancelled</th><th>tokens/s</th><th>ETA</th>{canChange ? <th /> : null}</tr>
        </thead>
        <tbody>
          {overview.collections.map((row) => (
            <tr key={row.collection ?? ''} data-testid="jobs-collection">
              <td>{row.collection ?? '(none)'}</td><td>{row.done}</td><td>{row.running}</td><td>{row.failed}</td><td>{row.queued}</td><td>{row.cancelled}</td>
              <td>{row.tokensPerSecond === null ? '-' : row.tokensPerSecond.toFixed(1)}</td>
              <td>{row.queued + row.running === 0 ? 'done' : duration(row.etaSeconds)}</td>
              {canChange ? (
                <td>
                  <button type="button" disabled={row.failed + row.cancelled === 0} onClick={() => void change('retry', { collection: row.collection })}>retry</button>{' '}
                  <button type="button" disabled={row.queued + row.running === 0} onClick={() => void change('cancel', { collection: row.collection })}>cancel</button>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {overview.collections.length === 0 ? <p>No jobs yet: <code>npx cotscope capture ... --enqueue</code> or a live run puts them in the queue.</p> : null}
      <h2>Workers alive ({overview.workers.length})</h2>
      <table className="data">
        <thead><tr><th>host</th><th>pid</th><th>model</th><th>device</th><th>slots</th><th>done</th><th>failed</th><th>last heartbeat</th></tr></thead>
        <tbody>
          {overview.workers.map((worker) => (
            <tr key={worker.id} data-testid="jobs-worker">
              <td>{worker.host}</td><td>{worker.pid}</td><td>{worker.model}</td><td>{worker.device}</td><td>{worker.concurrency}</td>
              <td>{worker.jobsDone}</td><td>{worker.jobsFailed}</td><td>{new Date(worker.heartbeatAt).toLocaleTimeString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Failures</h2>
      {overview.failures.length === 0 ? <p>None.</p> : (
        <table className="data">
          <thead><tr><th>job</th><th>collection</th><th>prompt</th><th>state</th><th>attempts</th><th>error</th>{canChange ? <th /> : null}</tr></thead>
          <tbody>
            {overview.failures.map((failure) => (
              <tr key={failure.jobId}>
                <td><code>{failure.jobId.slice(0, 8)}</code></td><td>{failure.collection ?? '(none)'}</td>
                <td>{failure.promptId ?? 'live'} {failure.effort ?? ''} s{failure.sampleIndex}</td><td>{failure.state}</td><td>{failure.attempts}</td>
                <td>{failure.error}</td>
                {canChange ? <td>{failure.state === 'failed' ? <button type="button" onClick={() => void change('retry', { jobIds: [failure.jobId] })}>retry</button> : null}</td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
