/** The review loop's fixed words, free of server imports so client components and zod schemas share them. */
export const ANNOTATOR_KINDS = ['human', 'model', 'rule'] as const;
export type AnnotatorKind = (typeof ANNOTATOR_KINDS)[number];
/** Of model- and rule-made spans (null for human ones). */
export const REVIEW_STATES = ['proposed', 'accepted', 'rejected'] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];
export const REVISION_ACTIONS = ['create', 'edit', 'delete', 'accept', 'reject'] as const;
export type RevisionAction = (typeof REVISION_ACTIONS)[number];
export const VERDICT_VALUES = ['safe', 'unsafe', 'unsure'] as const;
export type VerdictValue = (typeof VERDICT_VALUES)[number];
export const MIN_SEVERITY = 1;
export const MAX_SEVERITY = 4;
