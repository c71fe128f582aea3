/**
 * Runs before every page, route handler and server action: refuses a foreign Host (DNS rebinding)
 * and cross-site mutations (lib/auth/request-guard.ts) before the app sees the request.
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
  matcher: '/:path*',
};
