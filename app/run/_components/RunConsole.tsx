'use client';
import { useMemo, useRef, useState } from 'react';
import Link from 'next/link';
import type { RunEvent } from '@/lib/workbench/contracts';
import { LiveHeatmap } from '@/lib/workbench/live-heatmap';
import { SseParser } from '@/lib/workbench/sse';
import { TokenFocus } from '@/lib/workbench/token-focus';
import { TokenFocusContext } from '@/app/_components/useTokenFocus';
import { TokenHighlight } from '@/app/_components/TokenHighlight';
import { HeatmapPanel } from '@/app/_components/HeatmapPanel';

type Phase = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

export function RunConsole() {
  const focus = useMemo(() => new TokenFocus(), []);
  const [form, setForm] = useState({ prompt: 'Why is the sky blue?', system: '', developer: '', effort: 'medium', temperature: 1, topP: 1, seed: 0, maxNewTokens: 48, startInAnalysis: true });
  const [phase, setPhase] = useState<Phase>('idle');
  const [texts, setTexts] = useState<string[]>([]);
  const [traceId, setTraceId] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const heatmapRef = useRef<LiveHeatmap | null>(null);
  const abortRef = useRef<AbortController | null>(null);

  const handle = (event: RunEvent) => {
    if (event.type === 'start') {
      setTraceId(event.traceId);
      heatmapRef.current = new LiveHeatmap(form.maxNewTokens + 1, event.numLayers, event.numExperts, event.topK);
    } else if (event.type === 'token') {
      setTexts((previous) => [...previous, event.text]);
      if (event.experts && event.weights) heatmapRef.current?.push(event.experts, event.weights);
      setVersion((value) => value + 1);
    } else if (event.type === 'done') {
      setPhase(event.stopReason === 'cancelled' ? 'cancelled' : 'done');
      setMessage(`${event.tokenCount} tokens, stopped by ${event.stopReason}`);
    } else {
      setPhase('error');
      setMessage(event.message);
    }
  };

  const start = async () => {
    setPhase('running');
    setTexts([]);
    setTraceId(null);
    setMessage(null);
    heatmapRef.current = null;
    const controller = new AbortController();
    abortRef.current = controller;
    const body = { ...form, system: form.system || undefined, developer: form.developer || undefined };
    try {
      const response = await fetch('/api/run', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: controller.signal });
      if (!response.ok || !response.body) throw new Error((await response.json()).error ?? response.statusText);
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const payload of parser.push(value)) handle(JSON.parse(payload) as RunEvent);
      }
    } catch (error) {
      if ((error as Error).name === 'AbortError') {
        setPhase('cancelled');
        setMessage('cancelled; the partial trace is saved');
      } else {
        setPhase('error');
        setMessage((error as Error).message);
      }
    }
  };

  const field = (name: 'temperature' | 'topP' | 'seed' | 'maxNewTokens', step: string) => (
    <label>
      {name} <input type="number" step={step} name={name} value={form[name]} onChange={(event) => setForm({ ...form, [name]: Number(event.target.value) })} />
    </label>
  );
  const heatmap = heatmapRef.current?.view();
  return (
    <TokenFocusContext.Provider value={focus}>
      <TokenHighlight />
      <form className="run-form" onSubmit={(event) => { event.preventDefault(); void start(); }}>
        <label style={{ gridColumn: '1 / span 2' }}>prompt<textarea name="prompt" value={form.prompt} onChange={(event) => setForm({ ...form, prompt: event.target.value })} /></label>
        <label>system (optional)<textarea name="system" value={form.system} onChange={(event) => setForm({ ...form, system: event.target.value })} /></label>
        <label>developer (optional)<textarea name="developer" value={form.developer} onChange={(event) => setForm({ ...form, developer: event.target.value })} /></label>
        <div className="controls">
          <label>effort <select name="effort" value={form.effort} onChange={(event) => setForm({ ...form, effort: event.target.value })}><option>low</option><option>medium</option><option>high</option></select></label>
          {field('temperature', '0.05')}
          {field('topP', '0.05')}
          {field('seed', '1')}
          {field('maxNewTokens', '1')}
          <label title="Prefill <|channel|>analysis<|message|>: the model starts in its reasoning channel">
            <input type="checkbox" checked={form.startInAnalysis} onChange={(event) => setForm({ ...form, startInAnalysis: event.target.checked })} /> start in analysis channel
          </label>
        </div>
        <div className="controls">
          <button type="submit" disabled={phase === 'running'}>Run</button>
          <button type="button" disabled={phase !== 'running'} onClick={() => abortRef.current?.abort()}>Cancel</button>
          <span data-testid="run-status">{phase}</span>
          {traceId && phase !== 'running' ? <Link href={`/traces/${traceId}`} data-testid="run-trace-link">open trace {traceId}</Link> : null}
          {message ? <span className={phase === 'error' ? 'error' : 'muted'}>{message}</span> : null}
        </div>
      </form>
      <section aria-label="Streamed tokens">
        <h3>Generated tokens <small>({texts.length})</small></h3>
        <div className="token-text" data-testid="run-tokens">
          {texts.map((text, index) => <span key={index} className="tok" data-t={index}>{text}</span>)}
        </div>
      </section>
      {heatmap && heatmap.numTokens > 0 ? <HeatmapPanel data={heatmap} version={version} bands={[]} follow /> : null}
    </TokenFocusContext.Provider>
  );
}
