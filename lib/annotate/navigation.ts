/** Moving between annotation spans (n / p) in reading order. */

export interface SpanPosition {
  id: string;
  tokenStart: number;
  tokenEnd: number;
}

/** Spans in reading order: by start, then end, then id (so equal spans keep a stable order). */
export function readingOrder<T extends SpanPosition>(spans: readonly T[]): T[] {
  return [...spans].sort((a, b) => a.tokenStart - b.tokenStart || a.tokenEnd - b.tokenEnd || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The span after (direction 1) or before (-1) the current one, wrapping around. With no current
 * span, the first span starting after the cursor token (or the last one starting before it).
 */
export function adjacentSpan<T extends SpanPosition>(spans: readonly T[], current: { spanId: string | null; token: number | null }, direction: 1 | -1): T | null {
  const ordered = readingOrder(spans);
  if (ordered.length === 0) return null;
  const at = current.spanId === null ? -1 : ordered.findIndex((span) => span.id === current.spanId);
  if (at >= 0) return ordered[(at + direction + ordered.length) % ordered.length];
  const token = current.token ?? -1;
  if (direction === 1) return ordered.find((span) => span.tokenStart > token) ?? ordered[0];
  return [...ordered].reverse().find((span) => span.tokenStart < token) ?? ordered[ordered.length - 1];
}

/** Spans covering a token, innermost (shortest) first. */
export function spansAt<T extends SpanPosition>(spans: readonly T[], token: number): T[] {
  return spans.filter((span) => token >= span.tokenStart && token < span.tokenEnd).sort((a, b) => a.tokenEnd - a.tokenStart - (b.tokenEnd - b.tokenStart));
}

/**
 * A lane per span so overlapping spans are drawn one above the other: each span (in reading order)
 * takes the lowest lane whose last span ended at or before its start.
 */
export function spanLanes<T extends SpanPosition>(spans: readonly T[]): { lanes: Map<string, number>; count: number } {
  const laneEnds: number[] = [];
  const lanes = new Map<string, number>();
  for (const span of readingOrder(spans)) {
    let lane = laneEnds.findIndex((end) => end <= span.tokenStart);
    if (lane < 0) lane = laneEnds.push(0) - 1;
    laneEnds[lane] = span.tokenEnd;
    lanes.set(span.id, lane);
  }
  return { lanes, count: laneEnds.length };
}
