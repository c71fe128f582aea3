import { restoreTrace } from '@/lib/review/curation';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  return handleApiRoute(request, API.restoreTrace, context, async ({ params }, identity) => {
    await restoreTrace(await backend(), identity, params.id);
    return Response.json({ restored: params.id });
  });
}
