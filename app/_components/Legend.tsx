'use client';
import { useEffect, useRef } from 'react';
import { axisBottom, scaleLinear, select } from 'd3';
import { expertColor, sequentialInterpolator } from '@/lib/workbench/colors';
import type { SequentialScaleName } from '@/lib/workbench/colors';

/** A colour bar with a d3 axis for a sequential scale. */
export function SequentialLegend({ scale, domain, label, interpolate }: { scale?: SequentialScaleName; domain: [number, number]; label: string; interpolate?: (t: number) => string }) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const axisRef = useRef<SVGGElement>(null);
  const width = 200;
  const colourAt = interpolate ?? sequentialInterpolator(scale ?? 'weight');
  useEffect(() => {
    const context = canvasRef.current?.getContext('2d');
    if (context) {
      for (let x = 0; x < width; x++) {
        context.fillStyle = colourAt(x / (width - 1));
        context.fillRect(x, 0, 1, 10);
      }
    }
    if (axisRef.current) select(axisRef.current).call(axisBottom(scaleLinear().domain(domain).range([0, width])).ticks(4));
  }, [colourAt, domain]);
  return (
    <figure className="legend" data-testid="legend">
      <figcaption>{label}</figcaption>
      <canvas ref={canvasRef} width={width} height={10} />
      <svg width={width + 20} height={20}>
        <g ref={axisRef} transform="translate(0,0)" className="axis" />
      </svg>
    </figure>
  );
}

/** Swatches for expert ids; clicking one picks it. */
export function ExpertLegend({ numExperts, selected, onPick }: { numExperts: number; selected?: number; onPick?: (expert: number) => void }) {
  return (
    <figure className="legend" data-testid="legend">
      <figcaption>expert id</figcaption>
      <div className="swatches">
        {Array.from({ length: numExperts }, (_, expert) => (
          <button
            key={expert}
            type="button"
            className={expert === selected ? 'swatch picked' : 'swatch'}
            style={{ background: expertColor(expert) }}
            title={`expert ${expert}`}
            onClick={() => onPick?.(expert)}
          >
            {numExperts <= 64 ? expert : ''}
          </button>
        ))}
      </div>
    </figure>
  );
}
