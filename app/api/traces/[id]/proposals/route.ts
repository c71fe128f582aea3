import { proposeFromRules } from '@/lib/review/annotations';
import { activeRules } from '@/lib/review/rules';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  return handleApiRoute(request, API.proposeAnnotations, context, async ({ params }, identity) =>
    Response.json({ annotations: await proposeFromRules(await backend(), identity, params.id, activeRules()) }, { status: 201 }));
}
