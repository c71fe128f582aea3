import { handleRoute } from '@/lib/workbench/route';
import { traceIdSchema } from '@/lib/workbench/queries';
import { auditRawRead, backend, forgetTrace, traceView } from '@/lib/workbench/server';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { setTraceLabels, softDeleteTrace } from '@/lib/review/curation';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ id: string }> };

/** The trace view's data, with raw chain of thought removed unless the caller may read it. */
export async function GET(request: Request, context: Context): Promise<Response> {
  return handleRoute(
    request,
    { role: 'viewer', schema: traceIdSchema, input: async () => (await context.params).id },
    async (id, identity) => {
      const view = await traceView(id, identity);
      await auditRawRead(identity, id, 'GET /api/traces/:id');
      return Response.json(view);
    },
  );
}

/** Curation: replace the trace's tags and/or collections. */
export async function PATCH(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.updateTrace, context, async ({ params, body }, identity) =>
    Response.json(await setTraceLabels(await backend(), identity, params.id, body)));
}

/** Soft delete: hidden everywhere from now, purged after the retention period. */
export async function DELETE(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.deleteTrace, context, async ({ params }, identity) => {
    await softDeleteTrace(await backend(), identity, params.id);
    forgetTrace(params.id);
    return new Response(null, { status: 204 });
  });
}
