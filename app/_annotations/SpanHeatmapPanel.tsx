'use client';
import { useMemo } from 'react';
import type { ComponentProps } from 'react';
import { labelColour, labelName } from '@/lib/annotate/colors';
import { HeatmapPanel } from '@/app/_components/HeatmapPanel';
import type { SpanBand } from '@/app/_components/ExpertHeatmap';
import { useAnnotations } from './AnnotationContext';

/** The heatmap with the trace's annotation spans as bands over its token axis; a click selects the span everywhere. */
export function SpanHeatmapPanel(props: Omit<ComponentProps<typeof HeatmapPanel>, 'spans' | 'onSpanClick'>) {
  const { data, selectSpan } = useAnnotations();
  const spans = useMemo<SpanBand[]>(
    () =>
      (data?.annotations ?? [])
        .filter((span) => span.reviewState !== 'rejected')
        .map((span) => ({
          id: span.id,
          start: span.tokenStart,
          end: span.tokenEnd,
          colour: labelColour(span.label, data!.taxonomy),
          title: `${labelName(span.label, data!.taxonomy)} (severity ${span.severity}) by ${span.annotator}, tokens ${span.tokenStart}-${span.tokenEnd - 1}`,
        })),
    [data],
  );
  const onSpanClick = (id: string) => selectSpan(data?.annotations.find((span) => span.id === id) ?? null);
  return <HeatmapPanel {...props} spans={spans} onSpanClick={onSpanClick} />;
}
