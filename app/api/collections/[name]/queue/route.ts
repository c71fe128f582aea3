import { queueProgress } from '@/lib/review/queue';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, context: { params: Promise<{ name: string }> }): Promise<Response> {
  return handleApiRoute(request, API.queueProgress, context, async ({ params }) =>
    Response.json({ progress: await queueProgress(await backend(), params.name) }));
}
