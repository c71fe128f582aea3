import { errorResponse, jsonBody } from '@/lib/workbench/route';
import { sessionRequestSchema } from '@/lib/workbench/queries';
import { AccessError, identify, SESSION_COOKIE } from '@/lib/auth';

export const dynamic = 'force-dynamic';

const SESSION_BODY_BYTES = 4096;

/**
 * Signs in: validate -> check the token against COTSCOPE_USERS (the access check itself) -> set an
 * http-only session cookie. The one route that cannot require an identity first.
 */
export async function POST(request: Request): Promise<Response> {
  try {
    const { token } = sessionRequestSchema.parse(await jsonBody(request, SESSION_BODY_BYTES));
    const identity = identify(new Headers({ authorization: `Bearer ${token}` }));
    if (!identity) throw new AccessError('unknown token', 401);
    const cookie = `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
    return Response.json({ name: identity.name, role: identity.role, mode: identity.mode }, { headers: { 'set-cookie': cookie } });
  } catch (error) {
    return errorResponse(error);
  }
}
