import { decodeHeatmap } from '@/lib/workbench/heatmap-payload';
import type { HeatmapData } from '@/lib/workbench/heatmap-payload';

export async function fetchHeatmap(traceId: string, signal?: AbortSignal): Promise<HeatmapData> {
  const response = await fetch(`/api/traces/${traceId}/heatmap`, { signal });
  if (!response.ok) throw new Error(`heatmap of ${traceId}: ${response.status} ${await response.text()}`);
  return decodeHeatmap(await response.arrayBuffer());
}
