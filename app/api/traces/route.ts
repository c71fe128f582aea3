import { handleRoute } from '@/lib/workbench/route';
import { searchParamsObject, traceListQuerySchema } from '@/lib/workbench/queries';
import { listTraces } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function GET(request: Request): Promise<Response> {
  return handleRoute(
    request,
    { role: 'viewer', schema: traceListQuerySchema, input: () => searchParamsObject(new URL(request.url).searchParams) },
    async (query, identity) => Response.json(await listTraces(query, identity)),
  );
}
