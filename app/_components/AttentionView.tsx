'use client';
import { useEffect, useRef, useState } from 'react';
import { axisBottom, axisLeft, line, scaleLinear, select } from 'd3';
import type { AttentionSeries } from '@/lib/workbench/contracts';
import { useFocusState, useTokenFocus } from './useTokenFocus';

const WIDTH = 640;
const HEIGHT = 120;
const MARGIN = { left: 34, bottom: 20, top: 6 };

/** One layer and head: sink mass along the trace, and where the selected token attends. */
export function AttentionView({ traceId, numLayers, numHeads }: { traceId: string; numLayers: number; numHeads: number }) {
  const focus = useTokenFocus();
  const selected = useFocusState((state) => state.selected);
  const [layer, setLayer] = useState(0);
  const [head, setHead] = useState(0);
  const [series, setSeries] = useState<AttentionSeries | null>(null);
  const svgRef = useRef<SVGSVGElement>(null);

  useEffect(() => {
    const controller = new AbortController();
    fetch(`/api/traces/${traceId}/attention?layer=${layer}&head=${head}`, { signal: controller.signal })
      .then((response) => response.json())
      .then((body: AttentionSeries) => setSeries(body))
      .catch(() => {});
    return () => controller.abort();
  }, [traceId, layer, head]);

  useEffect(() => {
    const svg = svgRef.current;
    if (!svg || !series) return;
    const x = scaleLinear().domain([0, Math.max(1, series.numTokens - 1)]).range([MARGIN.left, WIDTH]);
    const y = scaleLinear().domain([0, 1]).range([HEIGHT - MARGIN.bottom, MARGIN.top]);
    const root = select(svg);
    root.selectAll('*').remove();
    root.append('g').attr('class', 'axis').attr('transform', `translate(0,${HEIGHT - MARGIN.bottom})`).call(axisBottom(x).ticks(8));
    root.append('g').attr('class', 'axis').attr('transform', `translate(${MARGIN.left},0)`).call(axisLeft(y).ticks(3));
    const path = line<number>().x((_, i) => x(i)).y((value) => y(value));
    root.append('path').attr('d', path(series.sinkMass) ?? '').attr('fill', 'none').attr('stroke', '#e06c75').attr('stroke-width', 1);
    if (selected !== null && selected < series.numTokens) {
      root.append('line').attr('x1', x(selected)).attr('x2', x(selected)).attr('y1', MARGIN.top).attr('y2', HEIGHT - MARGIN.bottom).attr('stroke', '#ffd84d');
      series.topPositions[selected].forEach((position, slot) => {
        if (position < 0) return;
        root.append('circle').attr('cx', x(position)).attr('cy', y(series.topWeights[selected][slot])).attr('r', 3).attr('fill', '#61afef');
      });
    }
  }, [series, selected]);

  const attended = series && selected !== null && selected < series.numTokens
    ? series.topPositions[selected].map((position, slot) => ({ position, weight: series.topWeights[selected][slot] })).filter((entry) => entry.position >= 0)
    : [];
  return (
    <section aria-label="Attention">
      <h3>Attention <small>(sink mass along the trace; dots: where the selected token attends)</small></h3>
      <label>layer <select value={layer} onChange={(event) => setLayer(Number(event.target.value))}>{Array.from({ length: numLayers }, (_, l) => <option key={l} value={l}>{l}</option>)}</select></label>{' '}
      <label>head <select value={head} onChange={(event) => setHead(Number(event.target.value))}>{Array.from({ length: numHeads }, (_, h) => <option key={h} value={h}>{h}</option>)}</select></label>
      <svg ref={svgRef} width={WIDTH} height={HEIGHT} role="img" aria-label="sink mass along the trace" />
      {attended.length > 0 ? (
        <p>
          token {selected} attends to:{' '}
          {attended.map(({ position, weight }) => (
            <button key={position} type="button" className="position-chip" onClick={() => focus.select(position)}>
              {position} ({weight.toFixed(2)})
            </button>
          ))}
        </p>
      ) : null}
    </section>
  );
}
