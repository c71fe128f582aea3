'use client';
import { useEffect, useRef, useState } from 'react';
import { labelColour, labelName } from '@/lib/annotate/colors';
import { readingOrder } from '@/lib/annotate/navigation';
import type { AnnotationJson } from '@/lib/annotate/contracts';
import { useAnnotations } from './AnnotationContext';

function NoteEditor({ span }: { span: AnnotationJson }) {
  const { saveNote, cancelNote } = useAnnotations();
  const [note, setNote] = useState(span.note ?? '');
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <textarea
      ref={ref}
      className="note-editor"
      data-testid="note-editor"
      aria-label={`note for the ${span.label} span (enter saves, escape cancels)`}
      value={note}
      onChange={(event) => setNote(event.target.value)}
      onKeyDown={(event) => {
        if (event.key === 'Enter' && !event.shiftKey) {
          event.preventDefault();
          void saveNote(span.id, note);
          document.querySelector<HTMLElement>('[data-annotatable]')?.focus();
        } else if (event.key === 'Escape') {
          event.preventDefault();
          cancelNote();
          document.querySelector<HTMLElement>('[data-annotatable]')?.focus();
        }
      }}
    />
  );
}

function SpanItem({ span, selected }: { span: AnnotationJson; selected: boolean }) {
  const { data, me, canAnnotate, editingNote, selectSpan, review, remove } = useAnnotations();
  const taxonomy = data?.taxonomy ?? [];
  const proposal = span.kind !== 'human' && span.reviewState === 'proposed';
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (selected) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [selected]);
  return (
    <li
      ref={ref}
      className={`span-item${selected ? ' selected' : ''}${span.reviewState === 'rejected' ? ' rejected' : ''}`}
      data-testid="span-item"
      data-span-id={span.id}
      data-label={span.label}
      data-annotator={span.annotator}
    >
      <button type="button" className="span-select" onClick={() => selectSpan(span)} aria-pressed={selected} aria-label={`select the ${labelName(span.label, taxonomy)} span by ${span.annotator}, tokens ${span.tokenStart} to ${span.tokenEnd - 1}`}>
        <i className="label-chip" style={{ background: labelColour(span.label, taxonomy) }} aria-hidden />
        <b>{labelName(span.label, taxonomy)}</b> <span className="severity" data-testid="span-severity">S{span.severity}</span>{' '}
        <small>
          {span.annotator} · {span.kind}
          {span.reviewState ? ` · ${span.reviewState}` : ''} · tokens {span.tokenStart}-{span.tokenEnd - 1}
        </small>
      </button>
      {span.text !== null ? <q className="span-text">{span.text}</q> : null}
      {editingNote === span.id ? <NoteEditor span={span} /> : span.note ? <p className="span-note" data-testid="span-note">{span.note}</p> : null}
      {canAnnotate && proposal ? (
        <span className="span-actions">
          <button type="button" onClick={() => void review(span.id, 'accept')}>accept</button>
          <button type="button" onClick={() => void review(span.id, 'reject')}>reject</button>
        </span>
      ) : null}
      {canAnnotate && span.annotator === me && span.kind === 'human' ? (
        <span className="span-actions">
          <button type="button" className="link" onClick={() => void remove(span.id)} aria-label={`delete the ${labelName(span.label, taxonomy)} span`}>delete</button>
        </span>
      ) : null}
    </li>
  );
}

/** The trace's spans in reading order, beside the text: label, severity, annotator, kind, note. */
export function SpanList() {
  const { data, error, selectedSpan, canAnnotate, canPropose, defaultSeverity, propose, setHelpOpen } = useAnnotations();
  const spans = data ? readingOrder(data.annotations) : [];
  return (
    <article className="span-list" data-testid="span-list" aria-label="Annotations">
      <h3>
        Spans <small>({spans.length})</small>{' '}
        <button type="button" className="link" onClick={() => setHelpOpen(true)} aria-keyshortcuts="?">shortcuts (?)</button>
      </h3>
      {error ? <p className="error" role="alert">{error}</p> : null}
      {data?.hiddenByBlindMode ? <p className="notice" data-testid="blind-notice">Blind review: others&apos; labels appear once you submit your verdict.</p> : null}
      {canAnnotate ? (
        <p className="muted">
          Select tokens in the raw reasoning, then press 1-9: new spans get severity <b data-testid="default-severity">{defaultSeverity}</b> (alt + 1-4).{' '}
          {canPropose ? <button type="button" className="link" onClick={() => void propose()}>propose spans from the redaction rules</button> : null}
        </p>
      ) : (
        <p className="muted">Your role sees where spans are and how they are labelled, not the raw text.</p>
      )}
      {data === null && !error ? <p className="muted">loading annotations...</p> : null}
      {data && spans.length === 0 ? <p className="muted">No spans yet.</p> : null}
      <ol className="spans">
        {spans.map((span) => <SpanItem key={span.id} span={span} selected={selectedSpan?.id === span.id} />)}
      </ol>
      {data ? (
        <details className="taxonomy">
          <summary>labels</summary>
          <ol>
            {data.taxonomy.map((label) => (
              <li key={label.key} title={label.description}>
                <i className="label-chip" style={{ background: labelColour(label.key, data.taxonomy) }} aria-hidden /> {label.name}
              </li>
            ))}
          </ol>
        </details>
      ) : null}
    </article>
  );
}
