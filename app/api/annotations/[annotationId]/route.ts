import { annotationFor, deleteAnnotation, editAnnotation } from '@/lib/review/annotations';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ annotationId: string }> };

export async function PATCH(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.editAnnotation, context, async ({ params, body }, identity) =>
    Response.json({ annotation: annotationFor(await editAnnotation(await backend(), identity, params.annotationId, body), identity) }));
}

export async function DELETE(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.deleteAnnotation, context, async ({ params }, identity) => {
    await deleteAnnotation(await backend(), identity, params.annotationId);
    return new Response(null, { status: 204 });
  });
}
