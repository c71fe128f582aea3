import { z } from 'zod';
import { handleRoute } from '@/lib/workbench/route';
import { tokenDetailQuerySchema, traceIdSchema } from '@/lib/workbench/queries';
import { tokenDetail } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

const schema = tokenDetailQuerySchema.extend({ id: traceIdSchema });

/** One token's routing and attention with exact values; its text is withheld inside raw reasoning for viewers. */
export async function GET(request: Request, context: { params: Promise<{ id: string; index: string }> }): Promise<Response> {
  return handleRoute(
    request,
    {
      role: 'viewer',
      schema,
      input: async () => ({ ...(await context.params), layer: new URL(request.url).searchParams.get('layer') ?? undefined }),
    },
    async (input: z.infer<typeof schema>, identity) => Response.json(await tokenDetail(input.id, input.index, input.layer, identity)),
  );
}
