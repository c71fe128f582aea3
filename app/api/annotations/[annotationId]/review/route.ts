import { annotationFor, reviewProposal } from '@/lib/review/annotations';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, context: { params: Promise<{ annotationId: string }> }): Promise<Response> {
  return handleApiRoute(request, API.reviewAnnotation, context, async ({ params, body }, identity) =>
    Response.json({ annotation: annotationFor(await reviewProposal(await backend(), identity, params.annotationId, body.decision), identity) }));
}
