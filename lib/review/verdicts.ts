/**
 * Trace-level verdicts (one per trace and annotator, upserted, each change in the audit log) and
 * what a reader sees of a trace's review.
 *
 * Blind mode: when any collection the trace is in has blind=true, an annotator (role annotator,
 * not researcher or admin) who has not yet submitted on this trace sees only their own annotations
 * and verdict, plus machine-made (model/rule) proposals, which are no other annotator's judgement.
 * "Submitted" means the annotator has a verdict on the trace (setting one marks their queue slot
 * submitted). Researchers, admins and viewers (who do not annotate) see everyone's; viewers never
 * see quoting text (lib/auth/redact.ts).
 */
import type { Backend } from '../store/backend';
import { actorOf, audit } from '../auth/audit';
import { redactQuotingFields } from '../auth/redact';
import { hasRole, type Identity } from '../auth/roles';
import { annotationFor, traceAnnotations, traceReviewContext, type Annotation } from './annotations';
import type { TaxonomyLabel } from './taxonomy';
import type { VerdictValue } from './vocabulary';


export interface Verdict {
  traceId: string;
  annotator: string;
  verdict: VerdictValue;
  /** Null for readers who may not read raw reasoning (a rationale may quote it). */
  rationale: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TraceReview {
  annotations: Annotation[];
  verdicts: Verdict[];
  taxonomy: TaxonomyLabel[];
  /** True when blind mode hides other annotators' spans and verdicts from this reader. */
  hiddenByBlindMode: boolean;
}

type VerdictRow = { traceId: string; annotator: string; verdict: string; rationale: string | null; createdAt: Date; updatedAt: Date };

function verdictOf(row: VerdictRow): Verdict {
  return {
    traceId: row.traceId, annotator: row.annotator, verdict: row.verdict as VerdictValue, rationale: row.rationale,
    createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
  };
}

export function verdictFor(verdict: Verdict, identity: Identity): Verdict {
  return redactQuotingFields(verdict, ['rationale'], identity);
}

/**
 * Sets the caller's verdict on a trace (insert or update) and marks their review slot in every
 * collection holding the trace as submitted (creating it when they reviewed outside the queue).
 */
export async function setVerdict(backend: Backend, identity: Identity, traceId: string, input: { verdict: VerdictValue; rationale?: string | null }): Promise<Verdict> {
  const context = await traceReviewContext(backend, traceId);
  const rationale = input.rationale ?? null;
  const [row] = await backend.fast.transaction(async (query) => {
    const rows = await query<VerdictRow>(
      `INSERT INTO verdicts (trace_id, annotator, verdict, rationale) VALUES ($1, $2, $3::"VerdictValue", $4)
       ON CONFLICT (trace_id, annotator) DO UPDATE SET verdict = EXCLUDED.verdict, rationale = EXCLUDED.rationale, updated_at = now()
       RETURNING trace_id AS "traceId", annotator, verdict::text AS verdict, rationale, created_at AS "createdAt", updated_at AS "updatedAt"`,
      [traceId, identity.name, input.verdict, rationale]);
    for (const collection of context.collections) {
      await query(
        `INSERT INTO review_assignments (collection_id, trace_id, annotator, state, finished_at) VALUES ($1, $2, $3, 'submitted', now())
         ON CONFLICT (collection_id, trace_id, annotator) DO UPDATE SET state = 'submitted', finished_at = now()`,
        [collection.id, traceId, identity.name]);
    }
    return rows;
  });
  await audit(backend, { actor: actorOf(identity), action: 'verdict.set', target: traceId, detail: { verdict: input.verdict, annotator: identity.name } });
  return verdictOf({ ...row, createdAt: new Date(row.createdAt), updatedAt: new Date(row.updatedAt) });
}

export async function traceVerdicts(backend: Backend, traceId: string): Promise<Verdict[]> {
  const rows = await backend.prisma.verdict.findMany({ where: { traceId }, orderBy: [{ createdAt: 'asc' }, { annotator: 'asc' }] });
  return rows.map(verdictOf);
}

/** Whether blind mode hides others' work on this trace from `identity` (see the module comment). */
export function blindFor(identity: Identity, traceIsBlind: boolean, submitted: boolean): boolean {
  return traceIsBlind && !hasRole(identity, 'researcher') && hasRole(identity, 'annotator') && !submitted;
}

/** A trace's annotations, verdicts and taxonomy as `identity` may see them. */
export async function traceReview(backend: Backend, identity: Identity, traceId: string): Promise<TraceReview> {
  const context = await traceReviewContext(backend, traceId);
  const [annotations, verdicts] = await Promise.all([traceAnnotations(backend, traceId), traceVerdicts(backend, traceId)]);
  const submitted = verdicts.some((verdict) => verdict.annotator === identity.name);
  const hidden = blindFor(identity, context.collections.some((collection) => collection.blind), submitted);
  const visible = (annotation: Annotation) => !hidden || annotation.kind !== 'human' || annotation.annotator === identity.name;
  return {
    annotations: annotations.filter(visible).map((annotation) => annotationFor(annotation, identity)),
    verdicts: verdicts.filter((verdict) => !hidden || verdict.annotator === identity.name).map((verdict) => verdictFor(verdict, identity)),
    taxonomy: context.taxonomy,
    hiddenByBlindMode: hidden,
  };
}
