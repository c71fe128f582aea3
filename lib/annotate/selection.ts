/**
 * Token selection on the raw reasoning for span annotation. A selection has an anchor (where it
 * started) and a head (where the cursor is); its range is end-exclusive. A span lies inside one
 * message, so the head is kept inside the anchor's message.
 */
import type { TokenRange } from '../workbench/routing-stats';

export interface TokenSelection {
  anchor: number;
  head: number;
}

/** The end-exclusive token range a selection covers, whichever way it was made. */
export function selectionRange(selection: TokenSelection): TokenRange {
  return { start: Math.min(selection.anchor, selection.head), end: Math.max(selection.anchor, selection.head) + 1 };
}

/** The range (of those given, end exclusive) holding a token, or null when no range does. */
export function rangeHolding(ranges: readonly TokenRange[], token: number): TokenRange | null {
  return ranges.find((range) => token >= range.start && token < range.end) ?? null;
}

/**
 * The cursor moved by `delta` tokens across the annotatable ranges (sorted, disjoint): a step past
 * the end of a range lands on the next range's first token; the cursor stops at the very ends.
 */
export function moveCursor(ranges: readonly TokenRange[], token: number, delta: number): number {
  const tokens = ranges.reduce((sum, range) => sum + range.end - range.start, 0);
  if (tokens === 0) return token;
  let position = 0;
  for (const range of ranges) {
    if (token >= range.start && token < range.end) {
      position += token - range.start;
      break;
    }
    if (token < range.start) break;
    position += range.end - range.start;
  }
  let target = Math.min(tokens - 1, Math.max(0, position + delta));
  for (const range of ranges) {
    if (target < range.end - range.start) return range.start + target;
    target -= range.end - range.start;
  }
  return token;
}

/** The selection with its head moved to `token`, clamped to the anchor's range (a span never crosses a message). */
export function extendTo(ranges: readonly TokenRange[], selection: TokenSelection, token: number): TokenSelection {
  const bounds = rangeHolding(ranges, selection.anchor);
  if (!bounds) return selection;
  return { anchor: selection.anchor, head: Math.min(bounds.end - 1, Math.max(bounds.start, token)) };
}

/** Shift+arrow: the head moves `delta` tokens, inside the anchor's range. */
export function extendBy(ranges: readonly TokenRange[], selection: TokenSelection, delta: number): TokenSelection {
  return extendTo(ranges, selection, selection.head + delta);
}

/** A click on `token`: a new collapsed selection, or with shift the current one extended to it. */
export function clickSelection(ranges: readonly TokenRange[], current: TokenSelection | null, token: number, extend: boolean): TokenSelection | null {
  if (!rangeHolding(ranges, token)) return current;
  if (extend && current) return extendTo(ranges, current, token);
  return { anchor: token, head: token };
}

const MESSAGE_START = '<|message|>';
const TERMINATORS = new Set(['<|end|>', '<|return|>', '<|call|>']);

/**
 * The content tokens of a message (after its `<|message|>` header token, before its terminator),
 * the only tokens a span may cover; null when the message has no header.
 */
export function contentRange(message: TokenRange, tokenTexts: readonly string[]): TokenRange | null {
  let start = -1;
  for (let token = message.start; token < message.end; token++) {
    if (tokenTexts[token] === MESSAGE_START) {
      start = token + 1;
      break;
    }
  }
  if (start < 0) return null;
  let end = start;
  while (end < message.end && !TERMINATORS.has(tokenTexts[end] ?? '')) end++;
  return end > start ? { start, end } : null;
}
