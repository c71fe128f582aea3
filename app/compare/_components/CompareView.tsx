'use client';
import { useEffect, useMemo, useState } from 'react';
import { interpolateRdBu } from 'd3';
import type { TraceViewData } from '@/lib/workbench/contracts';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';
import { expertUsage, usageDifference } from '@/lib/workbench/routing-stats';
import { TokenFocus } from '@/lib/workbench/token-focus';
import { fetchHeatmap } from '@/app/_components/fetch-heatmap';
import { MatrixCanvas } from '@/app/_components/MatrixCanvas';
import { SequentialLegend } from '@/app/_components/Legend';
import { TokenFocusContext } from '@/app/_components/useTokenFocus';
import { ReasoningPanel } from '@/app/traces/[id]/_components/ReasoningPanel';

/** Two traces side by side: per-layer expert usage difference (A - B) and both reasoning texts. */
export function CompareView({ a, b }: { a: TraceViewData; b: TraceViewData }) {
  const [maps, setMaps] = useState<[HeatmapData, HeatmapData] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    Promise.all([fetchHeatmap(a.header.id, controller.signal), fetchHeatmap(b.header.id, controller.signal)])
      .then(setMaps)
      .catch((reason: Error) => reason.name !== 'AbortError' && setError(reason.message));
    return () => controller.abort();
  }, [a.header.id, b.header.id]);
  const difference = useMemo(() => {
    if (!maps) return null;
    const [left, right] = maps;
    if (left.numLayers !== right.numLayers || left.numExperts !== right.numExperts) return `traces come from differently shaped models (${left.numLayers}x${left.numExperts} vs ${right.numLayers}x${right.numExperts})`;
    return usageDifference(expertUsage(left.experts, left), expertUsage(right.experts, right));
  }, [maps]);
  const bound = difference && typeof difference !== 'string' ? Math.max(1e-6, ...Array.from(difference, Math.abs)) : 1;
  const colourOf = useMemo(() => (value: number) => interpolateRdBu(0.5 - value / (2 * bound)), [bound]);
  const focusA = useMemo(() => new TokenFocus(), []);
  const focusB = useMemo(() => new TokenFocus(), []);
  return (
    <>
      <section aria-label="Expert usage difference">
        <h3>Expert usage difference <small>(A - B, layers x experts, fraction of tokens)</small></h3>
        {error ? <p className="error">{error}</p> : null}
        {typeof difference === 'string' ? <p className="error">{difference}</p> : null}
        {difference && typeof difference !== 'string' && maps ? (
          <>
            <MatrixCanvas values={difference} rows={maps[0].numLayers} columns={maps[0].numExperts} colourOf={colourOf} cell={maps[0].numExperts > 64 ? 4 : 8} label="usage difference matrix" />
            <SequentialLegend interpolate={(t) => interpolateRdBu(1 - t)} domain={[-bound, bound]} label="usage A - B (blue: more in A)" />
          </>
        ) : null}
      </section>
      <div className="compare">
        {[{ view: a, focus: focusA, name: 'A' }, { view: b, focus: focusB, name: 'B' }].map(({ view, focus, name }) => (
          <TokenFocusContext.Provider key={name} value={focus}>
            <div>
              <h2>{name}: <a href={`/traces/${view.header.id}`}>{view.header.id}</a> <small>{view.header.model}, effort {view.header.effort ?? '-'}</small></h2>
              <ReasoningPanel view={view} />
            </div>
          </TokenFocusContext.Provider>
        ))}
      </div>
    </>
  );
}
