/**
 * The one pattern every workbench route handler follows: check the request (Host, same origin for
 * mutations) -> check access (lib/auth) -> read and
 * validate input with zod -> call lib -> respond. The caller is checked before any body byte is
 * read, and a body is read with a byte cap, so an anonymous or oversized request costs nothing.
 * Errors become JSON with a status and a message naming the problem; an unexpected error is logged
 * with a request id and answered with that id only, never with its internal message.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AccessError, requireRole } from '../auth/access';
import { guardRequest } from '../auth/request-guard';
import type { Identity, Role } from '../auth/roles';
import { ReviewError } from '../review/errors';

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A request the server refuses for its size or its load: 413 (body too large) or 503 (busy). */
export class RequestRefusedError extends Error {
  constructor(message: string, readonly status: 413 | 429 | 503, readonly retryAfterSeconds?: number) {
    super(message);
    this.name = 'RequestRefusedError';
  }
}

/** Default cap on a JSON request body; routes with larger inputs pass their own. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export interface RouteSpec<Input> {
  /** Least role allowed to call the route. */
  role: Role;
  schema: z.ZodType<Input>;
  /** Raw input for the schema (query params, route params, body); only called once access is granted. */
  input: (request: Request) => Promise<unknown> | unknown;
}

/** Errors whose message is written for the client (no internals, no stored text). */
const CLIENT_ERRORS: ReadonlySet<string> = new Set(['BadCursorError', 'BadQueryError', 'AccountError']);

export interface ClientError {
  status: number;
  /** Safe to send: names the problem, holds no internals and no stored text. */
  message: string;
}

/** What a client may be told about an error; an unexpected one is logged under a fresh request id. */
export function clientError(error: unknown): ClientError {
  if (error instanceof z.ZodError) {
    const message = error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ');
    return { status: 400, message: `invalid request: ${message}` };
  }
  if (error instanceof AccessError || error instanceof RequestRefusedError) return { status: error.status, message: error.message };
  if (error instanceof Error && CLIENT_ERRORS.has(error.name)) return { status: 400, message: error.message };
  // By name too: Next may load this module once per route bundle, and a cached load started by
  // another bundle's route throws that bundle's NotFoundError class.
  if (error instanceof NotFoundError || (error instanceof Error && error.name === 'NotFoundError')) return { status: 404, message: error.message };
  if (error instanceof ReviewError || (error instanceof Error && error.name === 'ReviewError')) return { status: (error as ReviewError).status, message: error.message };
  const requestId = randomUUID();
  console.error(`[cotscope] request ${requestId} failed:`, error);
  return { status: 500, message: `internal error (request id ${requestId}; the server log has the details)` };
}

export function errorResponse(error: unknown): Response {
  const { status, message } = clientError(error);
  const retry = error instanceof RequestRefusedError && error.retryAfterSeconds !== undefined ? { 'retry-after': String(error.retryAfterSeconds) } : undefined;
  return Response.json({ error: message }, { status, headers: retry });
}

export async function handleRoute<Input>(
  request: Request,
  spec: RouteSpec<Input>,
  respond: (input: Input, identity: Identity) => Promise<Response> | Response,
): Promise<Response> {
  try {
    guardRequest(request);
    const identity = await requireRole(request.headers, spec.role);
    const input = spec.schema.parse(await spec.input(request));
    return await respond(input, identity);
  } catch (error) {
    return errorResponse(error);
  }
}

/**
 * The pattern for the one kind of route that cannot require an identity first (signing in and out):
 * check the request (Host, same origin) -> validate -> respond.
 */
export async function handlePublicRoute<Input>(
  request: Request,
  spec: Omit<RouteSpec<Input>, 'role'>,
  respond: (input: Input) => Promise<Response> | Response,
): Promise<Response> {
  try {
    guardRequest(request);
    return await respond(spec.schema.parse(await spec.input(request)));
  } catch (error) {
    return errorResponse(error);
  }
}

function invalidBody(message: string): z.ZodError {
  return new z.ZodError([{ code: 'custom', path: [], message, input: undefined }]);
}

/**
 * Reads a JSON body of at most `maxBytes`: a declared Content-Length over the cap is refused before
 * reading, and a streamed body is cut off as soon as it passes the cap (413 either way).
 */
export async function jsonBody(request: Request, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type.trim())) throw invalidBody('body must be JSON sent with Content-Type: application/json');
  const tooLarge = () => new RequestRefusedError(`request body is larger than ${maxBytes} bytes`, 413);
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await request.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const text = await readCapped(request, maxBytes, tooLarge);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidBody('body must be valid JSON');
  }
}

async function readCapped(request: Request, maxBytes: number, tooLarge: () => Error): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    parts.push(value);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(parts));
}
