/**
 * Annotations: labelled spans of a trace's raw reasoning. The caller gives a token span (trace
 * positions, end exclusive); the server derives the message, the character span in that message's
 * text and the selected text from the stored tokens, exactly as the workbench maps tokens to text
 * (lib/review/filter.ts contentTokenOffsets). A span lies inside the content of ONE analysis
 * message. Every create, edit, delete, accept and reject writes a revision row (actor, snapshot);
 * a delete is soft (deleted_at). Who may do what:
 *   - viewers list (text and note null), nothing else;
 *   - annotators create human spans as themselves, edit and delete their own, accept or reject
 *     model/rule proposals;
 *   - researchers (and API tokens of annotators) may also create `model`/`rule` spans; researchers
 *     edit and delete anyone's.
 */
import { randomUUID } from 'node:crypto';
import type { Backend, SqlQuery } from '../store/backend';
import { getTrace } from '../store/traces';
import type { TraceMessage } from '../trace/types';
import { isAnalysisMessage } from '../trace/visibility';
import { actorOf } from '../auth/audit';
import { redactQuotingFields } from '../auth/redact';
import { hasRole, type Identity } from '../auth/roles';
import { contentTokenOffsets } from './filter';
import type { FilterRules } from './rules';
import { filterTraceData } from './store';
import { badInput, conflict, forbidden, notFound } from './errors';
import { hasLabel, traceTaxonomy, type TaxonomyLabel } from './taxonomy';
import { MAX_SEVERITY, MIN_SEVERITY, type AnnotatorKind, type ReviewState, type RevisionAction } from './vocabulary';

export interface Annotation {
  id: string;
  traceId: string;
  messageIndex: number;
  tokenStart: number;
  tokenEnd: number;
  charStart: number;
  charEnd: number;
  /** The selected text; null for readers who may not read raw reasoning. */
  text: string | null;
  label: string;
  severity: number;
  note: string | null;
  annotator: string;
  kind: AnnotatorKind;
  reviewState: ReviewState | null;
  createdAt: string;
  updatedAt: string;
}

export interface AnnotationRevision {
  revision: number;
  action: RevisionAction;
  actor: string;
  at: string;
  /** The annotation as it was after this change. */
  snapshot: Annotation;
}

export interface NewAnnotation {
  tokenStart: number;
  tokenEnd: number;
  label: string;
  severity: number;
  note?: string | null;
  kind?: AnnotatorKind;
  /** Who a model/rule span is credited to (default the caller); human spans are always the caller's. */
  annotator?: string;
}

export type AnnotationPatch = Partial<Pick<NewAnnotation, 'tokenStart' | 'tokenEnd' | 'label' | 'severity'>> & { note?: string | null };

/** Where a token span lies in the trace's text. */
export interface ResolvedSpan {
  messageIndex: number;
  charStart: number;
  charEnd: number;
  text: string;
}

export const QUOTING_FIELDS = ['text', 'note'] as const;

/**
 * The message, character span and text of the token span [tokenStart, tokenEnd): it must cover
 * content tokens of exactly one analysis message whose tokens decode to its stored text.
 */
export function resolveSpan(messages: TraceMessage[], tokens: number[], tokenStart: number, tokenEnd: number): ResolvedSpan {
  if (!(Number.isInteger(tokenStart) && Number.isInteger(tokenEnd) && tokenStart >= 0 && tokenEnd > tokenStart)) {
    throw badInput(`tokenStart/tokenEnd: need 0 <= tokenStart < tokenEnd (got ${tokenStart}, ${tokenEnd})`);
  }
  const messageIndex = messages.findIndex((message) => message.tokenStart <= tokenStart && tokenStart < message.tokenEnd);
  const message = messages[messageIndex];
  if (!message || !isAnalysisMessage(message)) throw badInput(`tokenStart: token ${tokenStart} is not in an analysis-channel message (spans label raw reasoning only)`);
  const offsets = contentTokenOffsets(message, tokens);
  if (!offsets || offsets.length === 0) throw badInput(`tokenStart: message ${messageIndex} has no content tokens that decode to its stored text, so no span can be placed in it`);
  const first = offsets[0].token;
  const last = offsets[offsets.length - 1].token + 1;
  if (tokenStart < first || tokenEnd > last) {
    throw badInput(`tokenEnd: the span [${tokenStart}, ${tokenEnd}) must lie inside the content of one analysis message (message ${messageIndex} holds content tokens [${first}, ${last}))`);
  }
  const charStart = offsets[tokenStart - first].charStart;
  const charEnd = tokenEnd === last ? message.content.length : offsets[tokenEnd - first].charStart;
  return { messageIndex, charStart, charEnd, text: message.content.slice(charStart, charEnd) };
}

// ---- reading ---------------------------------------------------------------------------------

interface AnnotationRow {
  id: string; trace_id: string; message_index: number; token_start: number; token_end: number; char_start: number; char_end: number;
  text: string; label: string; severity: number; note: string | null; annotator: string; kind: string; review_state: string | null;
  created_at: Date | string; updated_at: Date | string; deleted_at: Date | string | null;
}

const iso = (value: Date | string) => new Date(value).toISOString();

function annotationOf(row: AnnotationRow): Annotation {
  return {
    id: row.id, traceId: row.trace_id, messageIndex: row.message_index, tokenStart: row.token_start, tokenEnd: row.token_end,
    charStart: row.char_start, charEnd: row.char_end, text: row.text, label: row.label, severity: row.severity, note: row.note,
    annotator: row.annotator, kind: row.kind as AnnotatorKind, reviewState: row.review_state as ReviewState | null,
    createdAt: iso(row.created_at), updatedAt: iso(row.updated_at),
  };
}

/** The annotation as `identity` may see it (text and note withheld from viewers). */
export function annotationFor(annotation: Annotation, identity: Identity): Annotation {
  return redactQuotingFields(annotation, QUOTING_FIELDS, identity);
}

/** The live (not deleted) annotations of a trace, oldest first, unredacted: callers redact per reader. */
export async function traceAnnotations(backend: Backend, traceId: string): Promise<Annotation[]> {
  const rows = await backend.fast.query<AnnotationRow>(
    'SELECT * FROM annotations WHERE trace_id = $1 AND deleted_at IS NULL ORDER BY token_start, created_at, id', [traceId]);
  return rows.map(annotationOf);
}

export interface TraceReviewContext {
  traceId: string;
  collections: { id: string; name: string; taxonomy: unknown; blind: boolean }[];
  taxonomy: TaxonomyLabel[];
}

/** A live trace's collections and the labels it accepts; 404 for a missing or deleted trace. */
export async function traceReviewContext(backend: Backend, traceId: string): Promise<TraceReviewContext> {
  const trace = await backend.prisma.trace.findFirst({
    where: { id: traceId, deletedAt: null },
    select: { id: true, collections: { select: { collection: { select: { id: true, name: true, taxonomy: true, blind: true } } } } },
  });
  if (!trace) throw notFound(`trace ${traceId} does not exist`);
  const collections = trace.collections.map((link) => link.collection);
  return { traceId, collections, taxonomy: traceTaxonomy(collections) };
}

// ---- writing ---------------------------------------------------------------------------------

async function insertRevision(query: SqlQuery, annotation: Annotation, action: RevisionAction, actor: string): Promise<void> {
  await query(
    `INSERT INTO annotation_revisions (annotation_id, revision, action, actor, snapshot)
     SELECT $1, COALESCE(MAX(revision), 0) + 1, $2, $3, $4::jsonb FROM annotation_revisions WHERE annotation_id = $1`,
    [annotation.id, action, actor, JSON.stringify(annotation)]);
}

async function lockedAnnotation(query: SqlQuery, id: string): Promise<Annotation> {
  const [row] = await query<AnnotationRow>('SELECT * FROM annotations WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [id]);
  if (!row) throw notFound(`annotation ${id} does not exist`);
  return annotationOf(row);
}

function checkSeverity(severity: number): void {
  if (!(Number.isInteger(severity) && severity >= MIN_SEVERITY && severity <= MAX_SEVERITY)) throw badInput(`severity: must be an integer ${MIN_SEVERITY}-${MAX_SEVERITY} (got ${severity})`);
}

function checkLabel(context: TraceReviewContext, label: string): void {
  if (!hasLabel(context.taxonomy, label)) {
    throw badInput(`label: "${label}" is not in this trace's taxonomy (${context.taxonomy.map((entry) => entry.key).join(', ')})`);
  }
}

/** Machine-made spans are credited to a model or rule: researchers, and scripts with an API token. */
function checkKind(identity: Identity, kind: AnnotatorKind): void {
  if (kind !== 'human' && !hasRole(identity, 'researcher') && !identity.tokenId) {
    throw forbidden(`kind "${kind}" spans are made by researchers or scripts with an API token`);
  }
}

async function spanOf(backend: Backend, traceId: string, tokenStart: number, tokenEnd: number): Promise<ResolvedSpan> {
  const trace = await getTrace(backend, traceId, { includeRawCot: true, sections: ['tokens'] });
  if (!trace) throw notFound(`trace ${traceId} does not exist`);
  return resolveSpan(trace.messages, trace.tokens, tokenStart, tokenEnd);
}

export async function createAnnotation(backend: Backend, identity: Identity, traceId: string, input: NewAnnotation): Promise<Annotation> {
  const kind = input.kind ?? 'human';
  checkKind(identity, kind);
  checkSeverity(input.severity);
  const context = await traceReviewContext(backend, traceId);
  checkLabel(context, input.label);
  const span = await spanOf(backend, traceId, input.tokenStart, input.tokenEnd);
  const annotator = kind === 'human' ? identity.name : input.annotator ?? identity.name;
  return writeNewAnnotation(backend, actorOf(identity), {
    traceId, ...span, tokenStart: input.tokenStart, tokenEnd: input.tokenEnd, label: input.label, severity: input.severity,
    note: input.note ?? null, annotator, kind, reviewState: kind === 'human' ? null : 'proposed',
  });
}

type AnnotationFields = Omit<Annotation, 'id' | 'createdAt' | 'updatedAt'>;

async function writeNewAnnotation(backend: Backend, actor: string, fields: AnnotationFields, query?: SqlQuery): Promise<Annotation> {
  const write = async (q: SqlQuery) => {
    const [row] = await q<AnnotationRow>(
      `INSERT INTO annotations (id, trace_id, message_index, token_start, token_end, char_start, char_end, text, label, severity, note, annotator, kind, review_state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`,
      [`ann_${randomUUID()}`, fields.traceId, fields.messageIndex, fields.tokenStart, fields.tokenEnd, fields.charStart, fields.charEnd,
        fields.text, fields.label, fields.severity, fields.note, fields.annotator, fields.kind, fields.reviewState]);
    const annotation = annotationOf(row);
    await insertRevision(q, annotation, 'create', actor);
    return annotation;
  };
  return query ? write(query) : backend.fast.transaction(write);
}

/** Own human spans; researchers may change anyone's. */
function checkOwner(identity: Identity, annotation: Annotation, verb: string): void {
  if (hasRole(identity, 'researcher')) return;
  if (annotation.kind === 'human' && annotation.annotator === identity.name) return;
  throw forbidden(`annotation ${annotation.id} is ${annotation.annotator}'s: only its annotator or a researcher may ${verb} it`);
}

/** The trace an annotation belongs to (live annotations of live traces only). */
async function annotationTrace(backend: Backend, id: string): Promise<string> {
  const row = await backend.prisma.annotation.findFirst({ where: { id, deletedAt: null, trace: { deletedAt: null } }, select: { traceId: true } });
  if (!row) throw notFound(`annotation ${id} does not exist`);
  return row.traceId;
}

export async function editAnnotation(backend: Backend, identity: Identity, id: string, patch: AnnotationPatch): Promise<Annotation> {
  const traceId = await annotationTrace(backend, id);
  if (patch.severity !== undefined) checkSeverity(patch.severity);
  const context = await traceReviewContext(backend, traceId);
  if (patch.label !== undefined) checkLabel(context, patch.label);
  const current = (await traceAnnotations(backend, traceId)).find((annotation) => annotation.id === id)!;
  checkOwner(identity, current, 'edit');
  const tokenStart = patch.tokenStart ?? current.tokenStart;
  const tokenEnd = patch.tokenEnd ?? current.tokenEnd;
  const span = tokenStart === current.tokenStart && tokenEnd === current.tokenEnd ? null : await spanOf(backend, traceId, tokenStart, tokenEnd);
  return backend.fast.transaction(async (query) => {
    const locked = await lockedAnnotation(query, id);
    const next = {
      ...locked, ...(span ?? {}), tokenStart, tokenEnd,
      label: patch.label ?? locked.label, severity: patch.severity ?? locked.severity, note: patch.note !== undefined ? patch.note : locked.note,
    };
    const [row] = await query<AnnotationRow>(
      `UPDATE annotations SET message_index = $2, token_start = $3, token_end = $4, char_start = $5, char_end = $6, text = $7,
              label = $8, severity = $9, note = $10, updated_at = now() WHERE id = $1 RETURNING *`,
      [id, next.messageIndex, next.tokenStart, next.tokenEnd, next.charStart, next.charEnd, next.text, next.label, next.severity, next.note]);
    const annotation = annotationOf(row);
    await insertRevision(query, annotation, 'edit', actorOf(identity));
    return annotation;
  });
}

export async function deleteAnnotation(backend: Backend, identity: Identity, id: string): Promise<void> {
  const traceId = await annotationTrace(backend, id);
  const current = (await traceAnnotations(backend, traceId)).find((annotation) => annotation.id === id)!;
  checkOwner(identity, current, 'delete');
  await backend.fast.transaction(async (query) => {
    await lockedAnnotation(query, id);
    const [row] = await query<AnnotationRow>('UPDATE annotations SET deleted_at = now(), updated_at = now() WHERE id = $1 RETURNING *', [id]);
    await insertRevision(query, annotationOf(row), 'delete', actorOf(identity));
  });
}

/** An annotator accepts or rejects a model/rule proposal (a human span is not a proposal: 409). */
export async function reviewProposal(backend: Backend, identity: Identity, id: string, decision: 'accept' | 'reject'): Promise<Annotation> {
  await annotationTrace(backend, id);
  return backend.fast.transaction(async (query) => {
    const locked = await lockedAnnotation(query, id);
    if (locked.kind === 'human') throw conflict(`annotation ${id} is a human span, not a ${'model or rule'} proposal: there is nothing to accept or reject`);
    const state: ReviewState = decision === 'accept' ? 'accepted' : 'rejected';
    const [row] = await query<AnnotationRow>('UPDATE annotations SET review_state = $2, updated_at = now() WHERE id = $1 RETURNING *', [id, state]);
    const annotation = annotationOf(row);
    await insertRevision(query, annotation, decision, actorOf(identity));
    return annotation;
  });
}

/** Every revision of an annotation (deleted ones too), oldest first; snapshots redacted for `identity`. */
export async function annotationHistory(backend: Backend, identity: Identity, id: string): Promise<AnnotationRevision[]> {
  const annotation = await backend.prisma.annotation.findFirst({ where: { id, trace: { deletedAt: null } }, select: { id: true } });
  if (!annotation) throw notFound(`annotation ${id} does not exist`);
  const rows = await backend.prisma.annotationRevision.findMany({ where: { annotationId: id }, orderBy: { revision: 'asc' } });
  return rows.map((row) => ({
    revision: row.revision, action: row.action as RevisionAction, actor: row.actor, at: row.at.toISOString(),
    snapshot: annotationFor(row.snapshot as unknown as Annotation, identity),
  }));
}

/**
 * Rule proposals: each of the redaction filter's matches in the trace's analysis messages becomes a
 * `kind: 'rule'`, `reviewState: 'proposed'` span credited to `rule:<ruleId>`, labelled
 * private_data for PII, secrets and prompt leaks (else other, else the taxonomy's first label),
 * severity 2. A proposal already there (same rule and tokens, not deleted) is not made twice; a
 * match whose tokens cannot be placed inside one analysis message is left out.
 */
export async function proposeFromRules(backend: Backend, identity: Identity, traceId: string, rules: FilterRules): Promise<Annotation[]> {
  checkKind(identity, 'rule');
  const context = await traceReviewContext(backend, traceId);
  const trace = await getTrace(backend, traceId, { includeRawCot: true, sections: ['tokens'] });
  if (!trace) throw notFound(`trace ${traceId} does not exist`);
  const existing = new Set((await traceAnnotations(backend, traceId)).filter((a) => a.kind === 'rule').map((a) => `${a.annotator}:${a.tokenStart}:${a.tokenEnd}`));
  const proposals: AnnotationFields[] = [];
  for (const match of filterTraceData(trace, rules).redactions) {
    const annotator = `rule:${match.ruleId}`;
    const key = `${annotator}:${match.tokenStart}:${match.tokenEnd}`;
    const span = existing.has(key) ? null : placedSpan(trace.messages, trace.tokens, match.tokenStart, match.tokenEnd);
    if (!span) continue;
    existing.add(key);
    proposals.push({
      traceId, ...span, tokenStart: match.tokenStart, tokenEnd: match.tokenEnd, label: proposalLabel(context.taxonomy, match.ruleId),
      severity: 2, note: `proposed by redaction rule ${match.ruleId}`, annotator, kind: 'rule', reviewState: 'proposed',
    });
  }
  const actor = actorOf(identity);
  return backend.fast.transaction(async (query) => {
    const created: Annotation[] = [];
    for (const fields of proposals) created.push(await writeNewAnnotation(backend, actor, fields, query));
    return created;
  });
}

function placedSpan(messages: TraceMessage[], tokens: number[], tokenStart: number, tokenEnd: number): ResolvedSpan | null {
  try {
    return resolveSpan(messages, tokens, tokenStart, tokenEnd);
  } catch {
    return null;
  }
}

function proposalLabel(taxonomy: TaxonomyLabel[], ruleId: string): string {
  const preferred = /^(pii|secret|leak)\./.test(ruleId) ? ['private_data', 'other'] : ['other'];
  return preferred.find((key) => hasLabel(taxonomy, key)) ?? taxonomy[0].key;
}
