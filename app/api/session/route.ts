import { handlePublicRoute, jsonBody, RequestRefusedError } from '@/lib/workbench/route';
import { sessionRequestSchema } from '@/lib/workbench/queries';
import { isHttps, sessionCookie, signIn, signOut, TooManyAttemptsError } from '@/lib/auth/session';
import { processStore } from '@/lib/store/process';
import { z } from 'zod';

export const dynamic = 'force-dynamic';

const SESSION_BODY_BYTES = 4096;

/**
 * Signs in: check the request -> validate -> check the name and password (or API token) against the
 * store, throttled -> set an opaque, expiring, httpOnly session cookie.
 */
export async function POST(request: Request): Promise<Response> {
  return handlePublicRoute(request, { schema: sessionRequestSchema, input: () => jsonBody(request, SESSION_BODY_BYTES) }, async (input) => {
    try {
      const { user, cookieValue, expiresAt } = await signIn(await processStore(), input, request.headers);
      const maxAge = Math.floor((expiresAt.getTime() - Date.now()) / 1000);
      return Response.json({ name: user.name, role: user.role, expiresAt: expiresAt.toISOString() }, { headers: { 'set-cookie': sessionCookie(cookieValue, maxAge, isHttps(request)) } });
    } catch (error) {
      if (error instanceof TooManyAttemptsError) throw new RequestRefusedError(error.message, 429, error.retryAfterSeconds);
      throw error;
    }
  });
}

/** Signs out: ends the session in the store and clears the cookie. */
export async function DELETE(request: Request): Promise<Response> {
  return handlePublicRoute(request, { schema: z.unknown(), input: () => null }, async () => {
    await signOut(await processStore(), request.headers);
    return Response.json({ signedOut: true }, { headers: { 'set-cookie': sessionCookie('', 0, isHttps(request)) } });
  });
}
