/**
 * The one pattern every workbench route handler follows: validate with zod -> check access
 * (lib/auth) -> call lib -> respond. Errors become JSON with a status and a message naming the problem.
 */
import { z } from 'zod';
import { AccessError, requireRole } from '../auth/access';
import type { Identity, Role } from '../auth/roles';

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export interface RouteSpec<Input> {
  /** Least role allowed to call the route. */
  role: Role;
  schema: z.ZodType<Input>;
  /** Raw input for the schema (query params, route params, body). */
  input: (request: Request) => Promise<unknown> | unknown;
}

export function errorResponse(error: unknown): Response {
  if (error instanceof z.ZodError) {
    const message = error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ');
    return Response.json({ error: `invalid request: ${message}` }, { status: 400 });
  }
  if (error instanceof AccessError) return Response.json({ error: error.message }, { status: error.status });
  if (error instanceof Error && error.name === 'BadCursorError') return Response.json({ error: error.message }, { status: 400 });
  if (error instanceof NotFoundError) return Response.json({ error: error.message }, { status: 404 });
  console.error(error);
  return Response.json({ error: (error as Error).message ?? 'internal error' }, { status: 500 });
}

export async function handleRoute<Input>(
  request: Request,
  spec: RouteSpec<Input>,
  respond: (input: Input, identity: Identity) => Promise<Response> | Response,
): Promise<Response> {
  try {
    const input = spec.schema.parse(await spec.input(request));
    const identity = requireRole(request.headers, spec.role);
    return await respond(input, identity);
  } catch (error) {
    return errorResponse(error);
  }
}

export async function jsonBody(request: Request): Promise<unknown> {
  try {
    return await request.json();
  } catch {
    throw new z.ZodError([{ code: 'custom', path: [], message: 'body must be JSON', input: undefined }]);
  }
}
