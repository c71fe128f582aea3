/**
 * Per-trace expert usage: for each message channel, layer and expert, how many tokens routed to
 * the expert and the sum of its top-k weights. The store keeps these rows for fast queries
 * ("traces where layer 12 used expert 7 in analysis") without decoding capture blobs.
 */
import type { RoutingCapture, TraceMessage } from './types';

export interface ExpertUsageRow {
  /** Message channel (analysis, final, ...); the role for messages without one; 'none' outside messages. */
  channel: string;
  layer: number;
  expert: number;
  count: number;
  weightSum: number;
}

/** All experts of one layer and channel: element e is expert e (the store keeps usage in this form). */
export interface LayerUsageRow {
  channel: string;
  layer: number;
  counts: number[];
  weightSums: number[];
}

export const NO_CHANNEL = 'none';

export function channelOfMessage(message: TraceMessage): string {
  return message.channel ?? message.role;
}

/** Channel of each token position: routing row t is the forward pass over token t. */
export function tokenChannels(numTokens: number, messages: TraceMessage[]): string[] {
  const channels = new Array<string>(numTokens).fill(NO_CHANNEL);
  for (const message of messages) {
    const channel = channelOfMessage(message);
    for (let t = Math.max(0, message.tokenStart); t < Math.min(numTokens, message.tokenEnd); t++) channels[t] = channel;
  }
  return channels;
}

/** Usage per channel and layer, one row each; layers with no token in a channel are absent. */
export function summarizeExpertUsage(routing: RoutingCapture, messages: TraceMessage[]): LayerUsageRow[] {
  const { numTokens, numLayers, numExperts, topK, experts, weights } = routing;
  const channels = tokenChannels(numTokens, messages);
  const tables = new Map<string, { counts: Uint32Array; weightSums: Float64Array }>();
  const cells = numLayers * numExperts;
  for (let t = 0; t < numTokens; t++) {
    let table = tables.get(channels[t]);
    if (!table) {
      table = { counts: new Uint32Array(cells), weightSums: new Float64Array(cells) };
      tables.set(channels[t], table);
    }
    for (let layer = 0; layer < numLayers; layer++) {
      const slot = (t * numLayers + layer) * topK;
      for (let k = 0; k < topK; k++) {
        const cell = layer * numExperts + experts[slot + k];
        table.counts[cell] += 1;
        table.weightSums[cell] += weights[slot + k];
      }
    }
  }
  const rows: LayerUsageRow[] = [];
  for (const [channel, { counts, weightSums }] of tables) {
    for (let layer = 0; layer < numLayers; layer++) {
      const cellsOfLayer = [layer * numExperts, (layer + 1) * numExperts] as const;
      rows.push({ channel, layer, counts: Array.from(counts.subarray(...cellsOfLayer)), weightSums: Array.from(weightSums.subarray(...cellsOfLayer)) });
    }
  }
  return rows;
}

/** Per-expert rows of the experts that were chosen at least once. */
export function expertRows(layerRows: LayerUsageRow[]): ExpertUsageRow[] {
  return layerRows.flatMap(({ channel, layer, counts, weightSums }) => counts.flatMap((count, expert) =>
    count > 0 ? [{ channel, layer, expert, count, weightSum: weightSums[expert] }] : []));
}
