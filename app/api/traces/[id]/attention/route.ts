import { z } from 'zod';
import { handleRoute } from '@/lib/workbench/route';
import { attentionQuerySchema, searchParamsObject, traceIdSchema } from '@/lib/workbench/queries';
import { attentionSeries } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

const schema = attentionQuerySchema.extend({ id: traceIdSchema });

/** One layer and head of the attention capture along the whole trace (positions and weights, no text). */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  return handleRoute(
    request,
    { role: 'viewer', schema, input: async () => ({ ...searchParamsObject(new URL(request.url).searchParams), id: (await context.params).id }) },
    async (input: z.infer<typeof schema>) => Response.json(await attentionSeries(input.id, input.layer, input.head)),
  );
}
