'use client';
import { useMemo } from 'react';
import type { ComponentProps } from 'react';
import { labelColour, labelName } from '@/lib/annotate/colors';
import { spanLanes } from '@/lib/annotate/navigation';
import { HeatmapPanel } from '@/app/_components/HeatmapPanel';
import type { SpanBand } from '@/app/_components/ExpertHeatmap';
import { useAnnotations } from './AnnotationContext';

/** The heatmap with the trace's annotation spans as bands over its token axis; a click selects the span everywhere. */
export function SpanHeatmapPanel(props: Omit<ComponentProps<typeof HeatmapPanel>, 'spans' | 'onSpanClick'>) {
  const { data, selectSpan } = useAnnotations();
  const spans = useMemo<SpanBand[]>(() => {
    const shown = (data?.annotations ?? []).filter((span) => span.reviewState !== 'rejected');
    const { lanes } = spanLanes(shown);
    const taxonomy = data?.taxonomy ?? [];
    return shown.map((span) => ({
      id: span.id,
      start: span.tokenStart,
      end: span.tokenEnd,
      colour: labelColour(span.label, taxonomy),
      title: `${labelName(span.label, taxonomy)} (severity ${span.severity}) by ${span.annotator}, tokens ${span.tokenStart}-${span.tokenEnd - 1}`,
      lane: lanes.get(span.id) ?? 0,
    }));
  }, [data]);
  const onSpanClick = (id: string) => selectSpan(data?.annotations.find((span) => span.id === id) ?? null);
  return <HeatmapPanel {...props} spans={spans} onSpanClick={onSpanClick} />;
}
