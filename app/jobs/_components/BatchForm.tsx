'use client';
import { useState } from 'react';

const EFFORTS = ['low', 'medium', 'high'] as const;

/** Queues a batch capture: the JSONL prompt format of `cotscope capture`, run by the workers. */
export function BatchForm({ onQueued }: { onQueued: (message: string) => void }) {
  const [prompts, setPrompts] = useState('{"id": "q1", "prompt": "Why is the sky blue?"}');
  const [collection, setCollection] = useState('batch');
  const [efforts, setEfforts] = useState<string[]>(['medium']);
  const [samples, setSamples] = useState(1);
  const [maxNewTokens, setMaxNewTokens] = useState(256);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const response = await fetch('/api/jobs/batch', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompts, collection, efforts, samples, maxNewTokens }),
    });
    const body = (await response.json()) as { enqueued?: number; skipped?: number; problems?: Array<{ line: number; message: string }>; error?: string };
    if (!response.ok) return onQueued(body.error ?? `error ${response.status}`);
    const problems = body.problems?.map((problem) => `line ${problem.line}: ${problem.message}`).join('; ');
    onQueued(`queued ${body.enqueued} job(s)${body.skipped ? `, ${body.skipped} already complete or queued` : ''}${problems ? `; skipped lines: ${problems}` : ''}`);
  };

  return (
    <form className="batch" onSubmit={(event) => void submit(event)}>
      <h2>Queue a batch capture</h2>
      <label>Prompts (JSONL, one {'{"id", "prompt"}'} per line)<textarea name="prompts" rows={4} value={prompts} onChange={(event) => setPrompts(event.target.value)} /></label>
      <label>Collection <input name="collection" value={collection} onChange={(event) => setCollection(event.target.value)} /></label>
      <span>
        Efforts{' '}
        {EFFORTS.map((effort) => (
          <label key={effort}>
            <input type="checkbox" checked={efforts.includes(effort)} onChange={(event) => setEfforts(event.target.checked ? [...efforts, effort] : efforts.filter((value) => value !== effort))} /> {effort}
          </label>
        ))}
      </span>
      <label>Samples <input name="samples" type="number" min={1} max={100} value={samples} onChange={(event) => setSamples(Number(event.target.value))} /></label>
      <label>Max new tokens <input name="maxNewTokens" type="number" min={1} max={8192} value={maxNewTokens} onChange={(event) => setMaxNewTokens(Number(event.target.value))} /></label>
      <button type="submit" disabled={efforts.length === 0}>Queue</button>
    </form>
  );
}
