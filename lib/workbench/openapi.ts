/**
 * The HTTP API's one registry: each route's method, path, least role and zod schemas (path
 * parameters, query, body, responses) are declared here once. Route handlers validate with the
 * same objects (`handleApiRoute`, or the schema a registered older route imports from
 * lib/workbench/queries.ts), and GET /api/openapi.json is generated from them with zod 4's
 * `z.toJSONSchema` (JSON Schema 2020-12, as OpenAPI 3.1 uses): no hand-written copy to drift.
 */
import { z } from 'zod';
import type { Identity, Role } from '../auth/roles';
import { batchCaptureSchema, jobActionSchema } from '../jobs/app';
import { handleRoute, jsonBody } from './route';
import {
  adminTokenSchema, adminUserSchema, attentionQuerySchema, auditQuerySchema, runRequestSchema, searchParamsObject, sessionRequestSchema,
  tokenDetailQuerySchema, traceIdSchema, traceListQuerySchema,
} from './queries';
import {
  agreementSchema, annotationParams, annotationSchema, collectionParams, collectionPatchBody, collectionSchema, createAnnotationBody, emptyBody,
  errorSchema, historySchema, patchAnnotationBody, progressSchema, reviewDecisionBody, skipBody, traceLabelsBody, traceLabelsSchema, traceParams,
  traceReviewSchema, verdictBody, verdictSchema,
} from './review-schemas';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

interface ApiResponse {
  description: string;
  schema?: z.ZodType;
  /** Content type when not JSON. */
  contentType?: string;
}

interface ApiRouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** OpenAPI path template: /api/traces/{id}. */
  path: string;
  summary: string;
  /** Least role (lib/auth/roles.ts); `public` for signing in and out. */
  role: Role | 'public';
  params?: P;
  query?: Q;
  body?: B;
  /** The body may be left out (then it is `{}`); when sent, it is JSON and must match. */
  bodyOptional?: boolean;
  responses: Record<number, ApiResponse>;
}

export interface ApiRoute<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> extends ApiRouteSpec<P, Q, B> {
  /** What the handler validates: { params, query, body }. */
  input: z.ZodObject<{ params: P; query: Q; body: B }>;
}

const NONE = z.object({});

function apiRoute<P extends z.ZodType = typeof NONE, Q extends z.ZodType = typeof NONE, B extends z.ZodType = typeof NONE>(spec: ApiRouteSpec<P, Q, B>): ApiRoute<P, Q, B> {
  const input = z.object({ params: (spec.params ?? NONE) as P, query: (spec.query ?? NONE) as Q, body: (spec.body ?? NONE) as B });
  return { ...spec, input };
}

const json = (description: string, schema?: z.ZodType): ApiResponse => ({ description, schema });
const ERRORS: Record<number, ApiResponse> = {
  400: json('invalid input; the message names the field', errorSchema),
  401: json('sign in required', errorSchema),
  403: json('role too low, not yours, cross-site request or foreign Host', errorSchema),
  404: json('no such trace, annotation or collection', errorSchema),
};
const errorsWith = (extra: Record<number, ApiResponse> = {}) => ({ ...ERRORS, ...extra });
const CONFLICT = { 409: json('the state does not allow it', errorSchema) };

const tokenParams = z.object({ id: traceIdSchema, index: z.coerce.number().int().min(0) });
const progressResponse = z.object({ progress: progressSchema });

export const API = {
  // ---- review: annotations and verdicts ----
  traceAnnotations: apiRoute({
    method: 'get', path: '/api/traces/{id}/annotations', role: 'viewer', params: traceParams,
    summary: "A trace's annotations and verdicts as the caller may see them (blind mode, viewer redaction), and its taxonomy",
    responses: { 200: json('the trace review', traceReviewSchema), ...errorsWith() },
  }),
  createAnnotation: apiRoute({
    method: 'post', path: '/api/traces/{id}/annotations', role: 'annotator', params: traceParams, body: createAnnotationBody,
    summary: 'Label a token span of one analysis message; the server derives the character span and text',
    responses: { 201: json('created', z.object({ annotation: annotationSchema })), ...errorsWith() },
  }),
  editAnnotation: apiRoute({
    method: 'patch', path: '/api/annotations/{annotationId}', role: 'annotator', params: annotationParams, body: patchAnnotationBody,
    summary: 'Edit an annotation (its annotator, or a researcher); a revision is kept',
    responses: { 200: json('edited', z.object({ annotation: annotationSchema })), ...errorsWith() },
  }),
  deleteAnnotation: apiRoute({
    method: 'delete', path: '/api/annotations/{annotationId}', role: 'annotator', params: annotationParams,
    summary: 'Delete an annotation (soft; its history stays)',
    responses: { 204: { description: 'deleted' }, ...errorsWith() },
  }),
  annotationHistory: apiRoute({
    method: 'get', path: '/api/annotations/{annotationId}/history', role: 'viewer', params: annotationParams,
    summary: "Every revision of an annotation (create, edit, delete, accept, reject), oldest first",
    responses: { 200: json('revisions', historySchema), ...errorsWith() },
  }),
  reviewAnnotation: apiRoute({
    method: 'post', path: '/api/annotations/{annotationId}/review', role: 'annotator', params: annotationParams, body: reviewDecisionBody,
    summary: 'Accept or reject a model- or rule-made proposal',
    responses: { 200: json('reviewed', z.object({ annotation: annotationSchema })), ...errorsWith(CONFLICT) },
  }),
  proposeAnnotations: apiRoute({
    method: 'post', path: '/api/traces/{id}/proposals', role: 'researcher', params: traceParams, body: emptyBody, bodyOptional: true,
    summary: "Turn the active redaction rules' matches in the trace's raw reasoning into rule proposals",
    responses: { 201: json('proposals made now (existing ones are not repeated)', z.object({ annotations: z.array(annotationSchema) })), ...errorsWith() },
  }),
  setVerdict: apiRoute({
    method: 'put', path: '/api/traces/{id}/verdict', role: 'annotator', params: traceParams, body: verdictBody,
    summary: "Set the caller's verdict on a trace (upsert); marks their queue slot submitted",
    responses: { 200: json('the verdict', z.object({ verdict: verdictSchema })), ...errorsWith() },
  }),
  // ---- collections, queues, agreement ----
  listCollections: apiRoute({
    method: 'get', path: '/api/collections', role: 'viewer', summary: 'Collections with their review settings and counts',
    responses: { 200: json('collections', z.object({ collections: z.array(collectionSchema) })), ...errorsWith() },
  }),
  getCollection: apiRoute({
    method: 'get', path: '/api/collections/{name}', role: 'viewer', params: collectionParams, summary: 'One collection',
    responses: { 200: json('the collection', z.object({ collection: collectionSchema })), ...errorsWith() },
  }),
  updateCollection: apiRoute({
    method: 'patch', path: '/api/collections/{name}', role: 'researcher', params: collectionParams, body: collectionPatchBody,
    summary: "Change a collection's overlap, blind mode, taxonomy or description",
    responses: { 200: json('the collection', z.object({ collection: collectionSchema })), ...errorsWith() },
  }),
  queueNext: apiRoute({
    method: 'post', path: '/api/collections/{name}/queue/next', role: 'annotator', params: collectionParams, body: emptyBody, bodyOptional: true,
    summary: 'The next trace for the caller (resumes one they hold), assigned to them; null when none is left',
    responses: { 200: json('the trace and the progress', progressResponse.extend({ traceId: z.string().nullable() })), ...errorsWith() },
  }),
  queueSkip: apiRoute({
    method: 'post', path: '/api/collections/{name}/queue/skip', role: 'annotator', params: collectionParams, body: skipBody,
    summary: 'Pass on a trace; it is not offered to the caller again',
    responses: { 200: json('the progress', progressResponse), ...errorsWith(CONFLICT) },
  }),
  queueProgress: apiRoute({
    method: 'get', path: '/api/collections/{name}/queue', role: 'viewer', params: collectionParams,
    summary: 'Review progress: done / skipped / assigned per annotator, total and complete traces',
    responses: { 200: json('the progress', progressResponse), ...errorsWith() },
  }),
  agreement: apiRoute({
    method: 'get', path: '/api/collections/{name}/agreement', role: 'viewer', params: collectionParams,
    summary: "Cohen's kappa per annotator pair on verdicts; Krippendorff's alpha (nominal) at token level on spans, overall and per label",
    responses: { 200: json('agreement', agreementSchema), ...errorsWith() },
  }),
  // ---- curation ----
  updateTrace: apiRoute({
    method: 'patch', path: '/api/traces/{id}', role: 'researcher', params: traceParams, body: traceLabelsBody,
    summary: "Replace a trace's tags and/or collections (moving it between collections)",
    responses: { 200: json('the labels now', traceLabelsSchema), ...errorsWith() },
  }),
  deleteTrace: apiRoute({
    method: 'delete', path: '/api/traces/{id}', role: 'researcher', params: traceParams,
    summary: 'Soft-delete a trace: hidden everywhere now, purged after COTSCOPE_RETENTION_DAYS (default 30)',
    responses: { 204: { description: 'deleted' }, ...errorsWith() },
  }),
  restoreTrace: apiRoute({
    method: 'post', path: '/api/traces/{id}/restore', role: 'researcher', params: traceParams, body: emptyBody, bodyOptional: true,
    summary: 'Restore a soft-deleted trace (before it is purged)',
    responses: { 200: json('restored', z.object({ restored: z.string() })), ...errorsWith(CONFLICT) },
  }),
  openapi: apiRoute({
    method: 'get', path: '/api/openapi.json', role: 'public', summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1 document' } },
  }),
  // ---- routes that validate with lib/workbench/queries.ts and lib/jobs (documented from the same schemas) ----
  listTraces: apiRoute({
    method: 'get', path: '/api/traces', role: 'viewer', query: traceListQuerySchema,
    summary: 'Traces, filtered (incl. hasAnnotations, label, verdict, annotator), sorted, keyset-paged; rows carry annotation counts, labels and verdicts',
    responses: { 200: json('a page of traces'), ...errorsWith() },
  }),
  getTrace: apiRoute({
    method: 'get', path: '/api/traces/{id}', role: 'viewer', params: traceParams,
    summary: 'The trace view: header, messages (raw analysis only for annotator+), token texts, filtered reasoning',
    responses: { 200: json('the trace'), ...errorsWith() },
  }),
  heatmap: apiRoute({
    method: 'get', path: '/api/traces/{id}/heatmap', role: 'viewer', params: traceParams, summary: 'Routing heatmap bytes',
    responses: { 200: { description: 'binary heatmap', contentType: 'application/octet-stream' }, ...errorsWith() },
  }),
  tokenDetail: apiRoute({
    method: 'get', path: '/api/traces/{id}/tokens/{index}', role: 'viewer', params: tokenParams, query: tokenDetailQuerySchema.omit({ index: true }),
    summary: "One token's routing and attention", responses: { 200: json('the token'), ...errorsWith() },
  }),
  attention: apiRoute({
    method: 'get', path: '/api/traces/{id}/attention', role: 'viewer', params: traceParams, query: attentionQuerySchema,
    summary: 'Attention series of one layer and head', responses: { 200: json('the series'), ...errorsWith() },
  }),
  run: apiRoute({
    method: 'post', path: '/api/run', role: 'researcher', body: runRequestSchema,
    summary: 'Live run, streamed as server-sent events', responses: { 200: { description: 'SSE stream', contentType: 'text/event-stream' }, ...errorsWith({ 503: json('busy', errorSchema) }) },
  }),
  signIn: apiRoute({
    method: 'post', path: '/api/session', role: 'public', body: sessionRequestSchema, summary: 'Sign in (sets the session cookie)',
    responses: { 200: json('signed in'), ...errorsWith({ 429: json('too many attempts', errorSchema) }) },
  }),
  signOut: apiRoute({ method: 'delete', path: '/api/session', role: 'public', summary: 'Sign out', responses: { 200: json('signed out') } }),
  jobs: apiRoute({ method: 'get', path: '/api/jobs', role: 'viewer', summary: 'Capture queue overview', responses: { 200: json('jobs'), ...errorsWith() } }),
  changeJobs: apiRoute({ method: 'post', path: '/api/jobs', role: 'researcher', body: jobActionSchema, summary: 'Cancel or retry jobs', responses: { 200: json('changed'), ...errorsWith() } }),
  batch: apiRoute({ method: 'post', path: '/api/jobs/batch', role: 'researcher', body: batchCaptureSchema, summary: 'Enqueue a batch capture', responses: { 200: json('enqueued'), ...errorsWith() } }),
  adminUsers: apiRoute({ method: 'post', path: '/api/admin/users', role: 'admin', body: adminUserSchema, summary: 'Add a user, change a role, remove a user', responses: { 200: json('done'), ...errorsWith() } }),
  adminTokens: apiRoute({ method: 'post', path: '/api/admin/tokens', role: 'admin', body: adminTokenSchema, summary: 'Create or revoke an API token', responses: { 200: json('done'), ...errorsWith() } }),
  audit: apiRoute({ method: 'get', path: '/api/admin/audit', role: 'admin', query: auditQuerySchema, summary: 'The audit log', responses: { 200: json('events'), ...errorsWith() } }),
} as const;

type RouteInput<R> = R extends ApiRoute<infer P, infer Q, infer B> ? { params: z.output<P>; query: z.output<Q>; body: z.output<B> } : never;

/** What a request carries for `route`: path parameters, query string and (for routes with a body) the JSON body. */
async function readInput(request: Request, route: ApiRoute, params: Promise<Record<string, string>> | undefined): Promise<unknown> {
  const sent = request.headers.get('content-length') !== null && request.headers.get('content-length') !== '0' || request.headers.get('content-type') !== null;
  const body = route.body === undefined ? {} : route.bodyOptional && !sent ? {} : await jsonBody(request);
  return { params: (await params) ?? {}, query: searchParamsObject(new URL(request.url).searchParams), body };
}

/** handleRoute (Host and same-origin checks, access, zod, respond) with the registry's role and schema for `route`. */
export function handleApiRoute<R extends ApiRoute>(
  request: Request, route: R, context: { params: Promise<Record<string, string>> } | undefined,
  respond: (input: RouteInput<R>, identity: Identity) => Promise<Response> | Response,
): Promise<Response> {
  if (route.role === 'public') throw new Error(`route ${route.path} is public: use handlePublicRoute`);
  return handleRoute(request, { role: route.role, schema: route.input as unknown as z.ZodType<RouteInput<R>>, input: () => readInput(request, route, context?.params) }, respond);
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
}

function parameters(route: ApiRoute): object[] {
  const part = (schema: z.ZodType | undefined, location: 'path' | 'query') => {
    if (!schema) return [];
    const shape = jsonSchema(schema) as { properties?: Record<string, object>; required?: string[] };
    return Object.entries(shape.properties ?? {}).map(([name, property]) => ({
      name, in: location, required: location === 'path' || (shape.required ?? []).includes(name), schema: property,
    }));
  };
  return [...part(route.params, 'path'), ...part(route.query, 'query')];
}

function operation(name: string, route: ApiRoute): object {
  return {
    operationId: name,
    summary: route.summary,
    description: route.role === 'public' ? 'No sign-in needed.' : `Least role: ${route.role}. Send Authorization: Bearer <token> or the session cookie; mutations must be same-origin.`,
    ...(route.role === 'public' ? { security: [] } : {}),
    parameters: parameters(route),
    ...(route.body ? { requestBody: { required: !route.bodyOptional, content: { 'application/json': { schema: jsonSchema(route.body) } } } } : {}),
    responses: Object.fromEntries(Object.entries(route.responses).map(([status, response]) => [status, {
      description: response.description,
      ...(response.schema || response.contentType ? { content: { [response.contentType ?? 'application/json']: response.schema ? { schema: jsonSchema(response.schema) } : {} } } : {}),
    }])),
  };
}

/** The OpenAPI 3.1 document of every registered route. */
export function openApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const [name, route] of Object.entries(API) as [string, ApiRoute][]) (paths[route.path] ??= {})[route.method] = operation(name, route);
  return {
    openapi: '3.1.0',
    info: { title: 'cotscope', version: '1', description: 'Chain-of-thought workbench API. Raw reasoning (analysis text, and annotation text, notes and rationales that quote it) is returned only to annotators and above.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, session: { type: 'apiKey', in: 'cookie', name: 'cotscope_session' } } },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}
