'use client';
import { useEffect, useMemo, useState } from 'react';
import type { TraceViewData } from '@/lib/workbench/contracts';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';
import { TokenFocus } from '@/lib/workbench/token-focus';
import { channelBands } from '@/lib/workbench/tokens';
import type { TokenRange } from '@/lib/workbench/routing-stats';
import { TokenFocusContext } from '@/app/_components/useTokenFocus';
import { TokenHighlight } from '@/app/_components/TokenHighlight';
import { UsageMatrix } from '@/app/_components/UsageMatrix';
import { TokenInspector } from '@/app/_components/TokenInspector';
import { AttentionView } from '@/app/_components/AttentionView';
import { forgetHeatmap, requestHeatmap } from '@/app/_components/fetch-heatmap';
import { canReadRawReasoning, hasRole } from '@/lib/auth/roles';
import { isAnalysisMessage } from '@/lib/trace/visibility';
import { contentRange } from '@/lib/annotate/selection';
import { AnnotationProvider } from '@/app/_annotations/AnnotationContext';
import { SpanHeatmapPanel } from '@/app/_annotations/SpanHeatmapPanel';
import { SpanHighlight } from '@/app/_annotations/SpanHighlight';
import { ShortcutOverlay } from '@/app/_annotations/ShortcutOverlay';
import { VerdictControl } from '@/app/_annotations/VerdictControl';
import { QueueBar } from '@/app/_annotations/QueueBar';
import { ReasoningPanel } from './ReasoningPanel';

/** `queue`: the collection whose review queue led here (queue mode: skip, submit and next). */
export function TraceWorkbench({ view, queue = null }: { view: TraceViewData; queue?: string | null }) {
  const focus = useMemo(() => new TokenFocus(), []);
  const [heatmap, setHeatmap] = useState<HeatmapData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const traceId = view.header.id;

  // Started during render (hydration), consumed by the effect once the view is mounted.
  const heatmapRequest = view.routing ? requestHeatmap(traceId) : null;
  useEffect(() => {
    if (!heatmapRequest) return;
    let mounted = true;
    heatmapRequest.then(
      (data) => mounted && setHeatmap(data),
      (reason: Error) => mounted && setError(reason.message),
    );
    return () => {
      mounted = false;
      forgetHeatmap(traceId);
    };
  }, [traceId, heatmapRequest]);

  // Effects run after the whole view has hydrated (bench/ui.ts reports this mark).
  useEffect(() => void performance.mark('cotscope:hydrated'), []);

  const bands = useMemo(() => channelBands(view.messages), [view.messages]);
  const channelRanges = useMemo(() => {
    const ranges: Record<string, TokenRange[]> = {};
    for (const message of view.messages) {
      if (message.role !== 'assistant' || !message.channel) continue;
      (ranges[message.channel] ??= []).push({ start: message.tokenStart, end: message.tokenEnd });
    }
    return ranges;
  }, [view.messages]);

  // Spans cover raw reasoning only: the analysis messages this identity may read.
  const annotatable = useMemo(
    () =>
      canReadRawReasoning(view.identity)
        ? view.messages
            .filter((message) => !message.withheld && isAnalysisMessage(message))
            .map((message) => contentRange({ start: message.tokenStart, end: message.tokenEnd }, view.tokenTexts))
            .filter((range) => range !== null)
        : [],
    [view.messages, view.identity, view.tokenTexts],
  );

  return (
    <TokenFocusContext.Provider value={focus}>
      <AnnotationProvider traceId={traceId} me={view.identity.name} canAnnotate={hasRole(view.identity, 'annotator')} canPropose={hasRole(view.identity, 'researcher')} annotatable={annotatable}>
      <TokenHighlight />
      <SpanHighlight />
      <ShortcutOverlay />
      {queue ? <QueueBar collection={queue} /> : null}
      <ReasoningPanel view={view} />
      <VerdictControl />
      {view.routing ? (
        heatmap ? (
          <div data-testid="heatmap-ready">
            <SpanHeatmapPanel data={heatmap} bands={bands} />
            <div className="split">
              <TokenInspector traceId={traceId} numLayers={view.routing.numLayers} hasAttention={view.attention !== null} />
              <UsageMatrix data={heatmap} channelRanges={channelRanges} />
            </div>
          </div>
        ) : (
          <p className={error ? 'error' : 'muted'}>{error ?? 'loading routing...'}</p>
        )
      ) : (
        <p className="muted">This trace has no routing capture.</p>
      )}
      {view.attention ? <AttentionView traceId={traceId} numLayers={view.attention.numLayers} numHeads={view.attention.numHeads} /> : null}
      </AnnotationProvider>
    </TokenFocusContext.Provider>
  );
}
