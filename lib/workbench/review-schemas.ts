/**
 * zod schemas of the review API (annotations, verdicts, queues, agreement, curation): requests the
 * routes validate with and the responses they send, declared once; lib/workbench/openapi.ts turns
 * them into the OpenAPI document.
 */
import { z } from 'zod';
import { storableText } from '../trace/text';
import { taxonomyLabelSchema, taxonomySchema } from '../review/taxonomy';
import { ANNOTATOR_KINDS, MAX_SEVERITY, MIN_SEVERITY, REVIEW_STATES, REVISION_ACTIONS, VERDICT_VALUES } from '../review/vocabulary';
import { traceIdSchema } from './queries';

const tokenIndex = z.number().int().min(0).max(2 ** 31 - 1);
const severity = z.number().int().min(MIN_SEVERITY).max(MAX_SEVERITY).describe(`${MIN_SEVERITY} (minor) .. ${MAX_SEVERITY} (severe)`);
const labelKey = z.string().min(1).max(64);
const note = storableText(z.string().max(5000));
const nameText = storableText(z.string().trim().min(1).max(200));

export const annotationIdSchema = z.string().min(1).max(100).regex(/^[A-Za-z0-9_-]+$/, 'annotation id may hold letters, digits, _ and -');
export const collectionNameSchema = nameText;

export const traceParams = z.object({ id: traceIdSchema });
export const annotationParams = z.object({ annotationId: annotationIdSchema });
export const collectionParams = z.object({ name: collectionNameSchema });

export const createAnnotationBody = z.object({
  tokenStart: tokenIndex.describe('first token of the span (trace position)'),
  tokenEnd: tokenIndex.describe('one past the last token of the span'),
  label: labelKey.describe("a key of the trace's taxonomy"),
  severity,
  note: note.nullable().optional(),
  kind: z.enum(ANNOTATOR_KINDS).optional().describe('human (default); model and rule for researchers and API tokens'),
  annotator: nameText.optional().describe('who a model/rule span is credited to (default the caller); ignored for human spans'),
}).strict().refine((body) => body.tokenEnd > body.tokenStart, { message: 'tokenEnd must be greater than tokenStart', path: ['tokenEnd'] });

export const patchAnnotationBody = z.object({
  label: labelKey.optional(),
  severity: severity.optional(),
  note: note.nullable().optional(),
  tokenStart: tokenIndex.optional(),
  tokenEnd: tokenIndex.optional(),
}).strict().refine((body) => Object.keys(body).length > 0, 'give at least one of label, severity, note, tokenStart, tokenEnd');

export const reviewDecisionBody = z.object({ decision: z.enum(['accept', 'reject']) }).strict();

export const verdictBody = z.object({
  verdict: z.enum(VERDICT_VALUES),
  rationale: storableText(z.string().max(5000)).nullable().optional(),
}).strict();

export const collectionPatchBody = z.object({
  overlap: z.number().int().min(1).max(100).optional(),
  blind: z.boolean().optional(),
  taxonomy: taxonomySchema.nullable().optional().describe('null restores the default taxonomy'),
  description: storableText(z.string().max(2000)).nullable().optional(),
}).strict().refine((body) => Object.keys(body).length > 0, 'give at least one of overlap, blind, taxonomy, description');

export const skipBody = z.object({ traceId: traceIdSchema }).strict();

export const traceLabelsBody = z.object({
  tags: z.array(nameText).max(100).optional(),
  collections: z.array(nameText).max(100).optional(),
}).strict().refine((body) => body.tags !== undefined || body.collections !== undefined, 'give tags and/or collections');

/** A body a mutation may omit; when sent it must be this (JSON). */
export const emptyBody = z.object({}).strict();

// ---- responses ---------------------------------------------------------------------------------

const isoTime = z.string().describe('ISO 8601 time');

export const annotationSchema = z.object({
  id: z.string(),
  traceId: z.string(),
  messageIndex: z.number().int(),
  tokenStart: z.number().int(),
  tokenEnd: z.number().int(),
  charStart: z.number().int().describe("in the message's text"),
  charEnd: z.number().int(),
  text: z.string().nullable().describe('the selected text; null for viewers'),
  label: z.string(),
  severity: z.number().int(),
  note: z.string().nullable().describe('null for viewers'),
  annotator: z.string(),
  kind: z.enum(ANNOTATOR_KINDS),
  reviewState: z.enum(REVIEW_STATES).nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const verdictSchema = z.object({
  traceId: z.string(),
  annotator: z.string(),
  verdict: z.enum(VERDICT_VALUES),
  rationale: z.string().nullable().describe('null for viewers'),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const traceReviewSchema = z.object({
  annotations: z.array(annotationSchema),
  verdicts: z.array(verdictSchema),
  taxonomy: z.array(taxonomyLabelSchema),
  hiddenByBlindMode: z.boolean(),
});

export const historySchema = z.object({
  revisions: z.array(z.object({ revision: z.number().int(), action: z.enum(REVISION_ACTIONS), actor: z.string(), at: isoTime, snapshot: annotationSchema })),
});

export const progressSchema = z.object({
  collection: z.string(),
  overlap: z.number().int(),
  total: z.number().int(),
  complete: z.number().int().describe('traces with at least `overlap` submissions'),
  perAnnotator: z.array(z.object({ annotator: z.string(), done: z.number().int(), skipped: z.number().int(), assigned: z.number().int() })),
});

export const collectionSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  overlap: z.number().int(),
  blind: z.boolean(),
  customTaxonomy: z.boolean(),
  taxonomy: z.array(taxonomyLabelSchema),
  traces: z.number().int(),
  annotatedTraces: z.number().int(),
  verdicts: z.number().int(),
  createdAt: isoTime,
});

const alphaSchema = z.object({ alpha: z.number().nullable(), units: z.number().int(), values: z.number().int() });

export const agreementSchema = z.object({
  collection: z.string(),
  verdicts: z.object({
    pairs: z.array(z.object({
      a: z.string(), b: z.string(), kappa: z.number().nullable(), items: z.number().int(), observed: z.number().nullable(), expected: z.number().nullable(),
    })),
  }),
  spans: alphaSchema.extend({ annotators: z.array(z.string()), perLabel: z.array(alphaSchema.extend({ label: z.string() })) }),
});

export const traceLabelsSchema = z.object({ tags: z.array(z.string()), collections: z.array(z.string()) });
export const errorSchema = z.object({ error: z.string() });
