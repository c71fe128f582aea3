import { annotationFor, createAnnotation } from '@/lib/review/annotations';
import { traceReview } from '@/lib/review/verdicts';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ id: string }> };

export async function GET(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.traceAnnotations, context, async ({ params }, identity) =>
    Response.json(await traceReview(await backend(), identity, params.id)));
}

export async function POST(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.createAnnotation, context, async ({ params, body }, identity) => {
    const annotation = await createAnnotation(await backend(), identity, params.id, body);
    return Response.json({ annotation: annotationFor(annotation, identity) }, { status: 201 });
  });
}
