'use client';
import { useRef } from 'react';
import { clickSelection, extendTo, selectionRange } from '@/lib/annotate/selection';
import { TokenText } from '@/app/_components/TokenText';
import { useAnnotations } from './AnnotationContext';

function tokenOf(target: EventTarget | null): number | null {
  const element = (target as HTMLElement | null)?.closest?.('[data-t]');
  return element ? Number(element.getAttribute('data-t')) : null;
}

/**
 * The raw reasoning as an annotation surface: focusable, tokens selected by dragging, shift + click
 * or shift + arrows (the keys themselves are handled by the AnnotationProvider's listener).
 */
export function AnnotatableText({ indices, texts }: { indices: number[]; texts: string[] }) {
  const annotations = useAnnotations();
  const dragging = useRef(false);
  const { selection, annotatable, setSelection } = annotations;
  const range = selection ? selectionRange(selection) : null;
  return (
    <div
      className="annotatable"
      data-annotatable
      data-testid="annotatable"
      tabIndex={0}
      role="application"
      aria-roledescription="annotatable text"
      aria-label="Raw reasoning: arrow keys move the cursor, shift + arrows select, 1 to 9 label the selection, question mark lists the shortcuts"
      aria-describedby="annotation-status"
      onPointerDown={(event) => {
        const token = tokenOf(event.target);
        if (token === null || event.button !== 0) return;
        const next = clickSelection(annotatable, selection, token, event.shiftKey);
        if (next === selection) return;
        dragging.current = true;
        setSelection(next);
      }}
      onPointerOver={(event) => {
        const token = tokenOf(event.target);
        if (!dragging.current || token === null || !selection) return;
        const next = extendTo(annotatable, selection, token);
        if (next.head !== selection.head) setSelection(next);
      }}
      onPointerUp={() => (dragging.current = false)}
      onPointerLeave={() => (dragging.current = false)}
    >
      <TokenText indices={indices} texts={texts} label="raw reasoning tokens" />
      <p className="sr-only" id="annotation-status" aria-live="polite" data-testid="annotation-status">
        {annotations.status || (range ? `tokens ${range.start}-${range.end - 1} selected` : '')}
      </p>
    </div>
  );
}
