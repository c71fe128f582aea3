import { z } from 'zod';
import { changeJobs, jobActionSchema, jobsOverview } from '@/lib/jobs/app';
import { handleRoute, jsonBody } from '@/lib/workbench/route';
import { store } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** Queue progress per collection, workers alive, failures (null `overview` with PGlite: no queue). */
export async function GET(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'viewer', schema: z.object({}), input: () => ({}) }, async () =>
    Response.json({ overview: await jobsOverview(await store()) }));
}

/** Retry or cancel jobs of a collection or by id (researcher role). */
export async function POST(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'researcher', schema: jobActionSchema, input: () => jsonBody(request) }, async (input) =>
    Response.json({ changed: await changeJobs(await store(), input) }));
}
