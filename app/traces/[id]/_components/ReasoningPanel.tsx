'use client';
import { useMemo, useState } from 'react';
import type { TraceViewData } from '@/lib/workbench/contracts';
import { diffSegments, filteredSegments, reasoningText, type Segment } from '@/lib/review/segments';
import { isAnalysisMessage } from '@/lib/trace/visibility';
import { TokenText } from '@/app/_components/TokenText';
import { useTokenFocus } from '@/app/_components/useTokenFocus';
import { AnnotatableText } from '@/app/_annotations/AnnotatableText';
import { SpanList } from '@/app/_annotations/SpanList';
import { useOptionalAnnotations } from '@/app/_annotations/AnnotationContext';

type ViewMessage = TraceViewData['messages'][number];

function messageTokens(messages: ViewMessage[], keep: (message: ViewMessage) => boolean): number[] {
  return messages.filter(keep).flatMap((message) => Array.from({ length: message.tokenEnd - message.tokenStart }, (_, i) => message.tokenStart + i));
}

const isPromptMessage = (message: ViewMessage) => !message.withheld && ['system', 'developer', 'user'].includes(message.role);
const isFinalAnswer = (message: ViewMessage) => !message.withheld && message.role === 'assistant' && message.channel === 'final';

/** Text with its redactions marked; hovering one shows its category and rule and highlights its tokens in the heatmap. */
function MarkedText({ segments, testId }: { segments: Segment[]; testId: string }) {
  const focus = useTokenFocus();
  return (
    <p className="marked-text" data-testid={testId}>
      {segments.map((segment, index) =>
        segment.redaction ? (
          <mark
            key={index}
            className="redaction"
            data-category={segment.redaction.category}
            data-rule={segment.redaction.ruleId}
            title={`${segment.redaction.category} · rule ${segment.redaction.ruleId} · tokens ${segment.redaction.tokenStart}-${segment.redaction.tokenEnd - 1}`}
            onMouseEnter={() => focus.selectRange({ start: segment.redaction!.tokenStart, end: segment.redaction!.tokenEnd })}
            onMouseLeave={() => focus.selectRange(null)}
          >
            {segment.text}
          </mark>
        ) : (
          <span key={index}>{segment.text}</span>
        ),
      )}
    </p>
  );
}

/** Raw chain of thought (for roles that may read it) beside the filtered reasoning and the final answer, token-aligned. */
export function ReasoningPanel({ view }: { view: TraceViewData }) {
  const { messages, tokenTexts, filtered } = view;
  const rawWithheld = messages.some((message) => message.withheld);
  const [diff, setDiff] = useState(false);
  const analysis = useMemo(() => messageTokens(messages, (message) => !message.withheld && isAnalysisMessage(message)), [messages]);
  const answer = useMemo(() => messageTokens(messages, isFinalAnswer), [messages]);
  const prompt = useMemo(() => messageTokens(messages, isPromptMessage), [messages]);
  const filteredParts = useMemo(() => filteredSegments(filtered.text, filtered.redactions), [filtered]);
  // Compare shows two traces side by side without annotation state: plain token text there.
  const annotating = useOptionalAnnotations() !== null;
  const diffParts = useMemo(() => (rawWithheld ? [] : diffSegments(reasoningText(messages), filtered.redactions)), [messages, filtered, rawWithheld]);
  return (
    <section className="reasoning" aria-label="Reasoning">
      <details className="prompt-tokens">
        <summary>Prompt ({prompt.length} tokens)</summary>
        <TokenText indices={prompt} texts={tokenTexts} label="prompt tokens" />
      </details>
      <div className="columns with-spans">
        {rawWithheld ? null : (
          <article data-testid="raw-reasoning">
            <h3>
              Raw reasoning <small>(analysis channel)</small>{' '}
              <label className="toggle">
                <input type="checkbox" data-testid="diff-toggle" checked={diff} onChange={(event) => setDiff(event.target.checked)} /> diff with filter
              </label>
            </h3>
            {diff ? (
              <MarkedText segments={diffParts} testId="reasoning-diff" />
            ) : analysis.length === 0 ? (
              <p className="muted">No analysis tokens.</p>
            ) : annotating ? (
              <AnnotatableText indices={analysis} texts={tokenTexts} />
            ) : (
              <TokenText indices={analysis} texts={tokenTexts} label="raw reasoning tokens" />
            )}
          </article>
        )}
        {annotating ? <SpanList /> : null}
        <article data-testid="filtered-reasoning">
          <h3>
            Filtered reasoning{' '}
            <small data-testid="filter-name">
              ({filtered.filter.name} {filtered.filter.version}
              {filtered.stored ? '' : ', not stored yet'}; {filtered.redactions.length} redaction{filtered.redactions.length === 1 ? '' : 's'})
            </small>
          </h3>
          {rawWithheld ? <p className="notice">Raw reasoning is withheld from your role ({view.identity.role}): this is the filtered version.</p> : null}
          {filtered.text === '' ? <p className="muted">No analysis-channel reasoning.</p> : <MarkedText segments={filteredParts} testId="filtered-text" />}
          {filtered.summary ? (
            <div data-testid="filter-summary">
              <h4>Model summary <small>({filtered.summary.model})</small></h4>
              {filtered.summary.generatedModel ? (
                <p className="badge warn">generated model with random weights: this summary is not language</p>
              ) : null}
              <p>{filtered.summary.text}</p>
            </div>
          ) : null}
        </article>
        <article data-testid="final-answer">
          <h3>Final answer</h3>
          {answer.length === 0 ? <p className="muted">No final answer.</p> : <TokenText indices={answer} texts={tokenTexts} label="final answer tokens" />}
        </article>
      </div>
    </section>
  );
}
