import { handleRoute } from '@/lib/workbench/route';
import { traceIdSchema } from '@/lib/workbench/queries';
import { auditRawRead, traceView } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** The trace view's data, with raw chain of thought removed unless the caller may read it. */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
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
