'use client';
import { useMemo } from 'react';
import type { TraceViewData } from '@/lib/workbench/contracts';
import { TokenText } from '@/app/_components/TokenText';

function messageTokens(messages: TraceViewData['messages'], keep: (channel: string | null, role: string) => boolean): number[] {
  return messages
    .filter((message) => keep(message.channel, message.role))
    .flatMap((message) => Array.from({ length: message.tokenEnd - message.tokenStart }, (_, i) => message.tokenStart + i));
}

/** Raw chain of thought beside the filtered reasoning and the final answer, token-aligned. */
export function ReasoningPanel({ view }: { view: TraceViewData }) {
  const { messages, tokenTexts, filtered } = view;
  const rawWithheld = messages.some((message) => message.withheld);
  const analysis = useMemo(() => messageTokens(messages, (channel) => channel === 'analysis'), [messages]);
  const answer = useMemo(() => messageTokens(messages, (channel, role) => role === 'assistant' && channel !== 'analysis'), [messages]);
  const prompt = useMemo(() => messageTokens(messages, (_channel, role) => role !== 'assistant'), [messages]);
  return (
    <section className="reasoning" aria-label="Reasoning">
      <details className="prompt-tokens">
        <summary>Prompt ({prompt.length} tokens)</summary>
        <TokenText indices={prompt} texts={tokenTexts} label="prompt tokens" />
      </details>
      <div className="columns">
        <article data-testid="raw-reasoning">
          <h3>Raw reasoning <small>(analysis channel)</small></h3>
          {rawWithheld ? <p className="notice">Withheld: your role ({view.identity.role}) cannot read raw chain of thought.</p> : null}
          {analysis.length === 0 ? <p className="muted">No analysis tokens.</p> : <TokenText indices={analysis} texts={tokenTexts} label="raw reasoning tokens" />}
        </article>
        <article data-testid="filtered-reasoning">
          <h3>
            Filtered reasoning {filtered.placeholder ? <span className="badge warn">placeholder</span> : <small>({filtered.filter})</small>}
          </h3>
          <p className={filtered.placeholder ? 'placeholder' : ''}>{filtered.text}</p>
        </article>
        <article data-testid="final-answer">
          <h3>Final answer</h3>
          {answer.length === 0 ? <p className="muted">No final answer.</p> : <TokenText indices={answer} texts={tokenTexts} label="final answer tokens" />}
        </article>
      </div>
    </section>
  );
}
