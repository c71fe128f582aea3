'use client';
import { useMemo } from 'react';
import { labelColour } from '@/lib/annotate/colors';
import { selectionRange } from '@/lib/annotate/selection';
import { useAnnotations } from './AnnotationContext';

const tokensOf = (start: number, end: number) => Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);

/** Like TokenHighlight: CSS rules colour the spans' tokens and the selection in the annotatable text. */
export function SpanHighlight() {
  const { data, selection, selectedSpan } = useAnnotations();
  const spanRules = useMemo(() => {
    if (!data) return '';
    return data.annotations
      .filter((span) => span.reviewState !== 'rejected')
      .map((span) => {
        const selector = tokensOf(span.tokenStart, span.tokenEnd).map((token) => `[data-annotatable] .tok[data-t="${token}"]`).join(',');
        return selector ? `${selector}{box-shadow:inset 0 -3px 0 ${labelColour(span.label, data.taxonomy)}}` : '';
      })
      .join('');
  }, [data]);
  const range = selection ? selectionRange(selection) : null;
  const selected = range ? tokensOf(range.start, range.end).map((token) => `[data-annotatable] .tok[data-t="${token}"]`).join(',') : '';
  const selectionRule = selected ? `${selected}{background:${selectedSpan ? 'rgba(255,216,77,0.45)' : 'var(--hover)'}}` : '';
  return <style>{spanRules + selectionRule}</style>;
}
