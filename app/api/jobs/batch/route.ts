import { batchCaptureSchema, enqueueBatch } from '@/lib/jobs/app';
import { handleRoute, jsonBody } from '@/lib/workbench/route';
import { modelDir, store } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** Queues a batch capture (prompt x effort x sample jobs) for the app's model; researcher role. */
export async function POST(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'researcher', schema: batchCaptureSchema, input: () => jsonBody(request) }, async (input) =>
    Response.json(await enqueueBatch(await store(), modelDir(), input)));
}
