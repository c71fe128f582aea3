/**
 * The annotation API's JSON as the browser sees it (routes in app/api/traces/[id]/annotations,
 * app/api/annotations, app/api/collections). Type-only, so client components can use it.
 */
import type { Severity, VerdictValue } from './keys';

export type AnnotationKind = 'human' | 'model' | 'rule';
export type ReviewState = 'proposed' | 'accepted' | 'rejected';

export interface AnnotationJson {
  id: string;
  traceId: string;
  messageIndex: number;
  tokenStart: number;
  tokenEnd: number;
  charStart: number;
  charEnd: number;
  /** The selected raw text; null for roles that may not read raw reasoning. */
  text: string | null;
  label: string;
  severity: Severity;
  note: string | null;
  annotator: string;
  kind: AnnotationKind;
  reviewState: ReviewState | null;
  createdAt: string;
  updatedAt: string;
}

export interface VerdictJson {
  traceId: string;
  annotator: string;
  verdict: VerdictValue;
  rationale: string | null;
  updatedAt: string;
}

export interface TaxonomyLabel {
  key: string;
  name: string;
  description?: string;
}

export interface TraceAnnotations {
  annotations: AnnotationJson[];
  verdicts: VerdictJson[];
  taxonomy: TaxonomyLabel[];
  /** Others' annotations and verdicts are withheld until this annotator submits (blind review). */
  hiddenByBlindMode: boolean;
}

export interface AnnotatorProgress {
  annotator: string;
  done: number;
  skipped: number;
  assigned: number;
}

export interface QueueProgress {
  total: number;
  perAnnotator: AnnotatorProgress[];
}

export interface CollectionSettings {
  name: string;
  description?: string | null;
  overlap: number;
  blind: boolean;
  taxonomy: TaxonomyLabel[];
  traceCount?: number;
}

export interface Agreement {
  collection: string;
  verdicts: { pairs: { a: string; b: string; kappa: number | null; items: number }[] };
  spans: { alpha: number | null; units: number; perLabel: { label: string; alpha: number | null; units: number }[]; annotators: number | string[] };
}
