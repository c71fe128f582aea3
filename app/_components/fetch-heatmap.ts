import { decodeHeatmap } from '@/lib/workbench/heatmap-payload';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';

/** Fetches and decodes a trace's heatmap payload (the page preloads the same URL). */
export async function fetchHeatmap(traceId: string, signal?: AbortSignal): Promise<HeatmapData> {
  const response = await fetch(`/api/traces/${traceId}/heatmap`, { signal });
  if (!response.ok) throw new Error(`heatmap of ${traceId}: ${response.status} ${await response.text()}`);
  const bytes = await response.arrayBuffer();
  performance.mark('cotscope:heatmap-received');
  return decodeHeatmap(bytes);
}

/** The trace view's request, shared between its render (which starts it) and its effect (which awaits it). */
let pending: { traceId: string; request: Promise<HeatmapData> } | null = null;

/**
 * Starts (once) the heatmap request of the trace being viewed. Called while the view hydrates, so
 * the bytes are read and decoded during hydration instead of after it.
 */
export function requestHeatmap(traceId: string): Promise<HeatmapData> {
  if (pending?.traceId !== traceId) pending = { traceId, request: fetchHeatmap(traceId) };
  return pending.request;
}

/** Drops the shared request when its view goes away: a later visit fetches fresh (running traces grow). */
export function forgetHeatmap(traceId: string): void {
  if (pending?.traceId === traceId) pending = null;
}
