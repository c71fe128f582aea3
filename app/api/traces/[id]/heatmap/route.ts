import { handleRoute } from '@/lib/workbench/route';
import { traceIdSchema } from '@/lib/workbench/queries';
import { heatmapBytes } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** Routing as the compact binary the heatmap renders (lib/workbench/heatmap-payload.ts); no text. */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  return handleRoute(
    request,
    { role: 'viewer', schema: traceIdSchema, input: async () => (await context.params).id },
    async (id) => {
      const bytes = await heatmapBytes(id);
      return new Response(bytes as BodyInit, { headers: { 'content-type': 'application/octet-stream', 'cache-control': 'private, max-age=60' } });
    },
  );
}
