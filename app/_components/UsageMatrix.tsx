'use client';
import { useDeferredValue, useEffect, useMemo, useState } from 'react';
import { interpolateViridis } from 'd3';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';
import { expertUsage } from '@/lib/workbench/routing-stats';
import type { TokenRange } from '@/lib/workbench/routing-stats';
import { MatrixCanvas } from './MatrixCanvas';
import { SequentialLegend } from './Legend';
import { useFocusState } from './useTokenFocus';

interface UsageMatrixProps {
  data: HeatmapData;
  channelRanges: Record<string, TokenRange[]>;
}

/**
 * Layers x experts: fraction of tokens routed to each expert, over the whole trace or the chosen range.
 * It sits below the heatmap, so it is computed in a background render after the heatmap has painted.
 */
export function UsageMatrix({ data, channelRanges }: UsageMatrixProps) {
  const deferred = useDeferredValue<HeatmapData | null>(data, null);
  if (!deferred) {
    return (
      <section aria-label="Expert usage">
        <h3>Expert usage <small>(layers x experts)</small></h3>
        <p className="muted">counting expert usage...</p>
      </section>
    );
  }
  return <UsageMatrixView data={deferred} channelRanges={channelRanges} />;
}

function UsageMatrixView({ data, channelRanges }: UsageMatrixProps) {
  const selection = useFocusState((state) => state.range);
  const spanId = useFocusState((state) => state.spanId);
  const [scope, setScope] = useState<string>('trace');
  // Selecting an annotation span answers "which experts fired inside it": the matrix follows the span.
  useEffect(() => {
    if (spanId !== null) setScope('selection');
  }, [spanId]);
  const ranges: TokenRange[] | undefined =
    scope === 'selection' && selection ? [selection] : scope in channelRanges ? channelRanges[scope] : undefined;
  const usage = useMemo(() => {
    if (!ranges) return expertUsage(data.experts, data);
    const total = new Float32Array(data.numLayers * data.numExperts);
    const tokens = ranges.reduce((sum, range) => sum + (range.end - range.start), 0);
    for (const range of ranges) {
      const part = expertUsage(data.experts, data, range);
      part.forEach((value, i) => (total[i] += (value * (range.end - range.start)) / Math.max(1, tokens)));
    }
    return total;
  }, [data, ranges]);
  const maxUsage = Math.max(1e-6, ...usage);
  const colourOf = useMemo(() => (value: number) => interpolateViridis(value / maxUsage), [maxUsage]);
  return (
    <section aria-label="Expert usage">
      <h3>Expert usage <small>(layers x experts)</small></h3>
      <label>
        over{' '}
        <select value={scope} data-testid="usage-scope" onChange={(event) => setScope(event.target.value)}>
          <option value="trace">whole trace</option>
          {Object.keys(channelRanges).map((channel) => (
            <option key={channel} value={channel}>
              {channel} tokens
            </option>
          ))}
          <option value="selection" disabled={!selection}>
            {selection ? `selected ${spanId ? 'span' : 'range'} ${selection.start}-${selection.end - 1}` : 'selected range (shift + drag on the heatmap)'}
          </option>
        </select>
      </label>
      <MatrixCanvas values={usage} rows={data.numLayers} columns={data.numExperts} colourOf={colourOf} cell={data.numExperts > 64 ? 4 : 8} label="expert usage matrix" />
      <SequentialLegend scale="usage" domain={[0, maxUsage]} label="fraction of tokens routed" />
    </section>
  );
}
