import { annotationHistory } from '@/lib/review/annotations';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, context: { params: Promise<{ annotationId: string }> }): Promise<Response> {
  return handleApiRoute(request, API.annotationHistory, context, async ({ params }, identity) =>
    Response.json({ revisions: await annotationHistory(await backend(), identity, params.annotationId) }));
}
