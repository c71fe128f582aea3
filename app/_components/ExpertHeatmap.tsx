'use client';
/**
 * Tokens x layers heatmap on a canvas. The full heatmap is rasterised once into an offscreen canvas
 * (one pixel per cell); each pan/zoom frame blits the visible part, so 8k tokens x 36 layers stay smooth.
 */
import { useEffect, useLayoutEffect, useRef } from 'react';
import { axisBottom, axisLeft, scaleLinear, select } from 'd3';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';
import { rasterizeHeatmap } from '@/lib/workbench/heatmap-raster';
import type { HeatmapMode } from '@/lib/workbench/heatmap-raster';
import { fullViewport, layerAtY, panByPixels, revealToken, tokenAtX, xOfToken, zoomAt } from '@/lib/workbench/heatmap-layout';
import type { Viewport } from '@/lib/workbench/heatmap-layout';
import type { ChannelBand } from '@/lib/workbench/tokens';
import { navigateToken } from '@/lib/workbench/tokens';
import { useTokenFocus } from './useTokenFocus';
import { channelColor } from './channel-colors';

const BAND_HEIGHT = 10;
const SPAN_LANE_HEIGHT = 8;
const AXIS_BOTTOM = 22;
const AXIS_LEFT = 30;

declare global {
  interface Window {
    /** Set by the benchmark to collect per-frame draw times (ms). */
    __cotscopeDrawTimes?: number[];
  }
}

export interface ExpertHeatmapProps {
  data: HeatmapData;
  /** Bumped when `data` was extended in place (live run). */
  version?: number;
  mode: HeatmapMode;
  bands: ChannelBand[];
  height?: number;
  /** Follow the newest token (live run). */
  follow?: boolean;
  onHoverCell?: (cell: { token: number; layer: number } | null) => void;
  /** Annotation spans, drawn as a row of bands above the token axis; clicking one calls onSpanClick. */
  spans?: SpanBand[];
  onSpanClick?: (id: string) => void;
}

export interface SpanBand {
  id: string;
  start: number;
  /** End exclusive. */
  end: number;
  colour: string;
  /** Shown on hover and to screen readers. */
  title: string;
  /** Row of the band, so overlapping spans stack (lib/annotate/navigation.ts spanLanes). */
  lane: number;
}

/** The annotation spans in view as one d3-joined rect each (clickable, labelled), the selected one outlined. */
function drawSpanRow(row: SVGGElement, spans: SpanBand[], selectedId: string | null, xOf: (token: number) => number, width: number, onClick: (id: string) => void) {
  const visible = spans.filter((span) => xOf(span.end) >= 0 && xOf(span.start) <= width);
  select(row)
    .selectAll<SVGRectElement, SpanBand>('rect')
    .data(visible, (span) => span.id)
    .join((enter) =>
      enter
        .append('rect')
        .attr('data-testid', 'span-band')
        .attr('role', 'button')
        .attr('tabindex', 0)
        .on('click', (_event, span) => onClick(span.id))
        .on('keydown', (event: KeyboardEvent, span) => {
          if (event.key !== 'Enter' && event.key !== ' ') return;
          event.preventDefault();
          onClick(span.id);
        })
        .call((rect) => rect.append('title')),
    )
    .attr('data-span-id', (span) => span.id)
    .attr('aria-label', (span) => span.title)
    .attr('x', (span) => Math.max(0, xOf(span.start)))
    .attr('width', (span) => Math.max(2, Math.min(width, xOf(span.end)) - Math.max(0, xOf(span.start))))
    .attr('y', (span) => span.lane * SPAN_LANE_HEIGHT + 1)
    .attr('height', SPAN_LANE_HEIGHT - 2)
    .attr('fill', (span) => span.colour)
    .attr('stroke', (span) => (span.id === selectedId ? '#ffd84d' : 'none'))
    .attr('stroke-width', 2)
    .attr('class', (span) => (span.id === selectedId ? 'span-band selected' : 'span-band'))
    .select('title')
    .text((span) => span.title);
}

export function ExpertHeatmap({ data, version = 0, mode, bands, height = 260, follow = false, onHoverCell, spans, onSpanClick }: ExpertHeatmapProps) {
  const focus = useTokenFocus();
  const containerRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const xAxisRef = useRef<SVGGElement>(null);
  const yAxisRef = useRef<SVGGElement>(null);
  const spanRowRef = useRef<SVGGElement>(null);
  const spanClickRef = useRef(onSpanClick);
  spanClickRef.current = onSpanClick;
  const offscreenRef = useRef<HTMLCanvasElement | null>(null);
  const viewRef = useRef<Viewport>(fullViewport(data.numTokens));
  const widthRef = useRef(600);
  const frameRef = useRef(0);
  const drawnRef = useRef(false);
  const drawRef = useRef<() => void>(() => {});
  const numTokens = data.numTokens;

  const heatHeight = height - BAND_HEIGHT - AXIS_BOTTOM;

  drawRef.current = () => {
    const canvas = canvasRef.current;
    const offscreen = offscreenRef.current;
    if (!canvas || !offscreen) return;
    const began = performance.now();
    const width = widthRef.current;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round((BAND_HEIGHT + heatHeight) * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${BAND_HEIGHT + heatHeight}px`;
    }
    const context = canvas.getContext('2d');
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, BAND_HEIGHT + heatHeight);
    const view = viewRef.current;
    if (numTokens > 0) {
      context.imageSmoothingEnabled = false;
      context.drawImage(offscreen, view.start, 0, view.span, data.numLayers, 0, BAND_HEIGHT, width, heatHeight);
    }
    for (const band of bands) {
      const x0 = xOfToken(view, band.start, width);
      const x1 = xOfToken(view, band.end, width);
      if (x1 < 0 || x0 > width) continue;
      context.fillStyle = channelColor(band.label);
      context.fillRect(x0, 0, Math.max(1, x1 - x0), BAND_HEIGHT - 2);
    }
    const { hovered, selected, range } = focus.snapshot();
    if (range) {
      context.fillStyle = 'rgba(255,255,255,0.18)';
      const x0 = xOfToken(view, range.start, width);
      context.fillRect(x0, BAND_HEIGHT, xOfToken(view, range.end, width) - x0, heatHeight);
    }
    const cellWidth = Math.max(1, width / view.span);
    const marker = (token: number | null, colour: string) => {
      if (token === null) return;
      context.strokeStyle = colour;
      context.lineWidth = 1.5;
      context.strokeRect(xOfToken(view, token, width) - 0.5, 0.5, cellWidth + 1, BAND_HEIGHT + heatHeight - 1);
    };
    marker(hovered, 'rgba(255,255,255,0.8)');
    marker(selected, '#ffd84d');
    if (spanRowRef.current && spans) drawSpanRow(spanRowRef.current, spans, focus.snapshot().spanId, (token) => xOfToken(view, token, width), width, (id) => spanClickRef.current?.(id));
    const x = scaleLinear().domain([view.start, view.start + view.span]).range([0, width]);
    if (xAxisRef.current) select(xAxisRef.current).call(axisBottom(x).ticks(Math.max(2, Math.floor(width / 80))).tickFormat((value) => String(Math.floor(Number(value)))));
    window.__cotscopeDrawTimes?.push(performance.now() - began);
    if (!drawnRef.current) performance.mark('cotscope:heatmap-drawn');
    drawnRef.current = true;
  };

  const scheduleDraw = () => {
    if (frameRef.current) return;
    frameRef.current = requestAnimationFrame(() => {
      frameRef.current = 0;
      drawRef.current();
    });
  };

  const measureWidth = () => {
    if (containerRef.current) widthRef.current = Math.max(100, containerRef.current.clientWidth - AXIS_LEFT);
  };

  // Rasterise when the data or the colouring changes, and draw before the browser paints: the
  // heatmap appears in the same frame as the rest of the view.
  useLayoutEffect(() => {
    const offscreen = offscreenRef.current ?? document.createElement('canvas');
    offscreenRef.current = offscreen;
    if (numTokens === 0) return;
    offscreen.width = numTokens;
    offscreen.height = data.numLayers;
    const image = new ImageData(numTokens, data.numLayers);
    rasterizeHeatmap(data, mode, image.data);
    offscreen.getContext('2d')?.putImageData(image, 0, 0);
    performance.mark('cotscope:heatmap-rasterized');
    if (follow) viewRef.current = revealToken({ ...viewRef.current, span: Math.max(viewRef.current.span, Math.min(numTokens, 512)) }, numTokens - 1, numTokens);
    else if (viewRef.current.start + viewRef.current.span > numTokens || version === 0) viewRef.current = fullViewport(numTokens);
    measureWidth();
    drawRef.current();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data, version, mode, numTokens]);

  useEffect(() => {
    const y = scaleLinear().domain([0, data.numLayers]).range([0, heatHeight]);
    if (yAxisRef.current) {
      select(yAxisRef.current).call(axisLeft(y).ticks(Math.min(data.numLayers, 6)).tickFormat((value) => String(Math.floor(Number(value)))));
    }
  }, [data.numLayers, heatHeight]);

  // Focus changes (hover, selection) only redraw.
  useEffect(() => focus.subscribe(scheduleDraw), [focus]);
  useEffect(scheduleDraw, [bands, spans]);

  useEffect(() => {
    const container = containerRef.current;
    const canvas = canvasRef.current;
    if (!container || !canvas) return;
    const resize = new ResizeObserver(() => {
      measureWidth();
      scheduleDraw();
    });
    resize.observe(container);
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const anchor = event.offsetX / widthRef.current;
      const delta = Math.abs(event.deltaY) > Math.abs(event.deltaX) ? event.deltaY : 0;
      if (delta !== 0) viewRef.current = zoomAt(viewRef.current, Math.exp(-delta / 300), anchor, numTokens);
      else viewRef.current = panByPixels(viewRef.current, -event.deltaX, widthRef.current, numTokens);
      scheduleDraw();
    };
    canvas.addEventListener('wheel', onWheel, { passive: false });
    return () => {
      resize.disconnect();
      canvas.removeEventListener('wheel', onWheel);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [numTokens]);

  const drag = useRef<{ x: number; moved: boolean; rangeStart: number | null } | null>(null);

  const pointerToken = (event: React.PointerEvent<HTMLCanvasElement>) => tokenAtX(viewRef.current, event.nativeEvent.offsetX, widthRef.current, numTokens);

  return (
    <div className="heatmap" ref={containerRef}>
      {spans ? (
        <svg width="100%" height={SPAN_LANE_HEIGHT * Math.max(1, ...spans.map((span) => span.lane + 1))} className="span-row" data-testid="span-bands" role="group" aria-label="annotation spans on the token axis">
          <g ref={spanRowRef} transform={`translate(${AXIS_LEFT},0)`} />
        </svg>
      ) : null}
      <div style={{ display: 'flex' }}>
        <svg width={AXIS_LEFT} height={BAND_HEIGHT + heatHeight} aria-hidden>
          <g ref={yAxisRef} transform={`translate(${AXIS_LEFT - 1},${BAND_HEIGHT})`} className="axis" />
        </svg>
        <canvas
          ref={canvasRef}
          data-testid="heatmap-canvas"
          tabIndex={0}
          role="img"
          aria-label={`Expert routing heatmap: ${numTokens} tokens by ${data.numLayers} layers. Arrow keys move the selected token, + and - zoom.`}
          onPointerDown={(event) => {
            event.currentTarget.setPointerCapture(event.pointerId);
            drag.current = { x: event.clientX, moved: false, rangeStart: event.shiftKey ? pointerToken(event) : null };
          }}
          onPointerMove={(event) => {
            const token = pointerToken(event);
            focus.hover(token);
            onHoverCell?.({ token, layer: layerAtY(event.nativeEvent.offsetY - BAND_HEIGHT, heatHeight, data.numLayers) });
            const current = drag.current;
            if (!current) return;
            const delta = event.clientX - current.x;
            if (Math.abs(delta) > 2) current.moved = true;
            if (current.rangeStart !== null) {
              focus.selectRange({ start: Math.min(current.rangeStart, token), end: Math.max(current.rangeStart, token) + 1 });
            } else if (current.moved) {
              viewRef.current = panByPixels(viewRef.current, delta, widthRef.current, numTokens);
              current.x = event.clientX;
              scheduleDraw();
            }
          }}
          onPointerUp={(event) => {
            if (drag.current && !drag.current.moved && drag.current.rangeStart === null) focus.select(pointerToken(event));
            drag.current = null;
          }}
          onPointerLeave={() => {
            focus.hover(null);
            onHoverCell?.(null);
          }}
          onKeyDown={(event) => {
            if (event.key === '+' || event.key === '=' || event.key === '-') {
              viewRef.current = zoomAt(viewRef.current, event.key === '-' ? 0.5 : 2, 0.5, numTokens);
              scheduleDraw();
              return;
            }
            const next = navigateToken(focus.snapshot().selected ?? 0, event.key, numTokens);
            if (next === null) return;
            event.preventDefault();
            focus.select(next);
            viewRef.current = revealToken(viewRef.current, next, numTokens);
            scheduleDraw();
          }}
        />
      </div>
      <svg width="100%" height={AXIS_BOTTOM} aria-hidden>
        <g ref={xAxisRef} transform={`translate(${AXIS_LEFT},0)`} className="axis" />
      </svg>
    </div>
  );
}
