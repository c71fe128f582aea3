import { handleRoute } from '@/lib/workbench/route';
import { auditQuerySchema, searchParamsObject } from '@/lib/workbench/queries';
import { listAudit } from '@/lib/auth/audit';
import { store } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** The audit log, newest first. Admins only. */
export async function GET(request: Request): Promise<Response> {
  return handleRoute(
    request,
    { role: 'admin', schema: auditQuerySchema, input: () => searchParamsObject(new URL(request.url).searchParams) },
    async (query) => Response.json({ events: await listAudit((await store()).backend, query) }),
  );
}
