import { nextTrace, queueProgress } from '@/lib/review/queue';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, context: { params: Promise<{ name: string }> }): Promise<Response> {
  return handleApiRoute(request, API.queueNext, context, async ({ params }, identity) => {
    const opened = await backend();
    const traceId = await nextTrace(opened, params.name, identity.name);
    return Response.json({ traceId, progress: await queueProgress(opened, params.name) });
  });
}
