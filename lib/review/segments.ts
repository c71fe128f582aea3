/**
 * Pure text helpers of the filter shared by server and browser: the raw reasoning text that
 * redaction spans index, the marker a redaction shows, and the segments the views render.
 */
import type { TraceMessage } from '../trace/types';
import { isAnalysisMessage } from '../trace/visibility';

/** Between analysis messages in the raw reasoning text. */
export const MESSAGE_SEPARATOR = '\n\n';

/** The raw reasoning text: the analysis messages' contents joined by MESSAGE_SEPARATOR (what char spans index). */
export function reasoningText(messages: Pick<TraceMessage, 'role' | 'channel' | 'content'>[]): string {
  return messages.filter(isAnalysisMessage).map((message) => message.content).join(MESSAGE_SEPARATOR);
}

export interface RedactionSpan {
  category: string;
  ruleId: string;
  charStart: number;
  charEnd: number;
  tokenStart: number;
  tokenEnd: number;
}

/** What a reader sees in place of a redaction: `[private data: e-mail]`; `[redacted: CATEGORY]` for user rules. */
export function redactionMarker(span: Pick<RedactionSpan, 'category' | 'ruleId'>): string {
  return /^(pii|secret|leak)\./.test(span.ruleId) ? `[private data: ${span.category}]` : `[redacted: ${span.category}]`;
}

/** Raw text with each redaction (disjoint, in order) replaced by its marker. */
export function applyRedactions(text: string, redactions: Pick<RedactionSpan, 'charStart' | 'charEnd' | 'category' | 'ruleId'>[]): string {
  let out = '';
  let at = 0;
  for (const redaction of redactions) {
    out += text.slice(at, redaction.charStart) + redactionMarker(redaction);
    at = redaction.charEnd;
  }
  return out + text.slice(at);
}

export type Segment = { text: string; redaction: RedactionSpan | null };

/** The filtered text cut into plain runs and markers (located from the redactions, no raw text needed). */
export function filteredSegments(filtered: string, redactions: RedactionSpan[]): Segment[] {
  const segments: Segment[] = [];
  let shift = 0;
  let at = 0;
  for (const redaction of redactions) {
    const marker = redactionMarker(redaction);
    const start = redaction.charStart + shift;
    if (filtered.slice(start, start + marker.length) !== marker) continue; // not this text's redaction: show it plain
    if (start > at) segments.push({ text: filtered.slice(at, start), redaction: null });
    segments.push({ text: marker, redaction });
    at = start + marker.length;
    shift += marker.length - (redaction.charEnd - redaction.charStart);
  }
  if (at < filtered.length) segments.push({ text: filtered.slice(at), redaction: null });
  return segments;
}

/** The raw text cut into plain runs and the redacted spans (diff mode). */
export function diffSegments(raw: string, redactions: RedactionSpan[]): Segment[] {
  const segments: Segment[] = [];
  let at = 0;
  for (const redaction of redactions) {
    if (redaction.charStart < at || redaction.charEnd > raw.length) continue;
    if (redaction.charStart > at) segments.push({ text: raw.slice(at, redaction.charStart), redaction: null });
    segments.push({ text: raw.slice(redaction.charStart, redaction.charEnd), redaction });
    at = redaction.charEnd;
  }
  if (at < raw.length) segments.push({ text: raw.slice(at), redaction: null });
  return segments;
}
