/**
 * Runs before every page and server action (a POST to a page): refuses a foreign Host (DNS
 * rebinding) and cross-site mutations (lib/auth/request-guard.ts) before the app sees the request.
 * Route handlers under /api are left out: a proxy makes Next buffer request bodies (and cut them at
 * 10 MB), which would defeat their own byte caps; they make the same check first thing in
 * handleRoute / handlePublicRoute (lib/workbench/route.ts).
 */
import { NextResponse } from 'next/server';
import type { NextRequest } from 'next/server';
import { guardRequest } from './lib/auth/request-guard';
import { AccessError } from './lib/auth/errors';

export function proxy(request: NextRequest): NextResponse | Response {
  try {
    guardRequest(request);
  } catch (error) {
    if (error instanceof AccessError) return Response.json({ error: error.message }, { status: error.status });
    throw error;
  }
  return NextResponse.next();
}

export const config = {
  matcher: '/((?!api/).*)',
};
