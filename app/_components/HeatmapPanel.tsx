'use client';
import { useState } from 'react';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';
import type { HeatmapMode } from '@/lib/workbench/heatmap-raster';
import type { ChannelBand } from '@/lib/workbench/tokens';
import { ExpertHeatmap, type SpanBand } from './ExpertHeatmap';
import { ExpertLegend, SequentialLegend } from './Legend';
import { CHANNEL_LEGEND } from './channel-colors';

type ModeKind = HeatmapMode['kind'];

/** The heatmap with its colouring controls, legend and channel-band key. */
export function HeatmapPanel({ data, version, bands, follow, spans, onSpanClick }: {
  data: HeatmapData;
  version?: number;
  bands: ChannelBand[];
  follow?: boolean;
  spans?: SpanBand[];
  onSpanClick?: (id: string) => void;
}) {
  const [kind, setKind] = useState<ModeKind>('expert');
  const [rank, setRank] = useState(0);
  const [expert, setExpert] = useState(0);
  const [cell, setCell] = useState<{ token: number; layer: number } | null>(null);
  const mode: HeatmapMode = kind === 'expert' ? { kind, rank } : kind === 'weight' ? { kind, expert } : { kind };
  return (
    <section className="heatmap-panel" aria-label="Expert heatmap">
      <div className="controls">
        <label>
          colour by{' '}
          <select value={kind} onChange={(event) => setKind(event.target.value as ModeKind)} aria-label="heatmap colouring">
            <option value="expert">chosen expert</option>
            <option value="weight">one expert&apos;s weight</option>
            <option value="entropy">router entropy</option>
          </select>
        </label>
        {kind === 'expert' ? (
          <label>
            rank{' '}
            <select value={rank} onChange={(event) => setRank(Number(event.target.value))}>
              {Array.from({ length: data.topK }, (_, r) => <option key={r} value={r}>{r + 1}</option>)}
            </select>
          </label>
        ) : null}
        {kind === 'weight' ? (
          <label>
            expert <input type="number" min={0} max={data.numExperts - 1} value={expert} onChange={(event) => setExpert(Math.min(data.numExperts - 1, Math.max(0, Number(event.target.value))))} />
          </label>
        ) : null}
        <span className="muted">drag to pan, wheel to zoom, shift + drag to select a range, arrows to move</span>
        <span className="cell-readout">{cell ? `token ${cell.token}, layer ${cell.layer}` : ''}</span>
      </div>
      <ExpertHeatmap data={data} version={version} mode={mode} bands={bands} follow={follow} onHoverCell={setCell} spans={spans} onSpanClick={onSpanClick} />
      <div className="legends">
        {kind === 'expert' ? <ExpertLegend numExperts={data.numExperts} selected={undefined} onPick={(picked) => { setExpert(picked); setKind('weight'); }} /> : null}
        {kind === 'weight' ? <SequentialLegend scale="weight" domain={[0, 1]} label={`routing weight of expert ${expert}`} /> : null}
        {kind === 'entropy' ? <SequentialLegend scale="entropy" domain={[0, Math.log(data.numExperts)]} label="router entropy (nats)" /> : null}
        <figure className="legend">
          <figcaption>channel bands</figcaption>
          {CHANNEL_LEGEND.map(([label, colour]) => (
            <span key={label} className="band-key"><i style={{ background: colour }} />{label}</span>
          ))}
        </figure>
      </div>
    </section>
  );
}
