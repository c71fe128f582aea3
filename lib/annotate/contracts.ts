/**
 * The annotation API's JSON as the browser sees it: the server's own types (lib/review), imported
 * type-only so client components share them without bundling server code.
 */
export type { Annotation as AnnotationJson } from '../review/annotations';
export type { Verdict as VerdictJson, TraceReview as TraceAnnotations } from '../review/verdicts';
export type { TaxonomyLabel } from '../review/taxonomy';
export type { AnnotatorProgress, QueueProgress } from '../review/queue';
export type { CollectionSummary, CollectionAgreement as Agreement } from '../review/collections';
