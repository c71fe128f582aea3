import { queueProgress, skipTrace } from '@/lib/review/queue';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, context: { params: Promise<{ name: string }> }): Promise<Response> {
  return handleApiRoute(request, API.queueSkip, context, async ({ params, body }, identity) => {
    const opened = await backend();
    await skipTrace(opened, params.name, identity.name, body.traceId);
    return Response.json({ progress: await queueProgress(opened, params.name) });
  });
}
