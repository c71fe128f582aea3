import { setVerdict, verdictFor } from '@/lib/review/verdicts';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function PUT(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  return handleApiRoute(request, API.setVerdict, context, async ({ params, body }, identity) =>
    Response.json({ verdict: verdictFor(await setVerdict(await backend(), identity, params.id, body), identity) }));
}
