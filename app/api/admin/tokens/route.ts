import { handleRoute, jsonBody } from '@/lib/workbench/route';
import { adminTokenSchema } from '@/lib/workbench/queries';
import { adminCreateToken, adminRevokeToken } from '@/lib/auth/admin';
import { actorOf } from '@/lib/auth/audit';
import { store } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** Creates an API token (answered once, only its hash is stored) or revokes one; audited. Admins only. */
export async function POST(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'admin', schema: adminTokenSchema, input: () => jsonBody(request, 4096) }, async (input, identity) => {
    const { backend } = await store();
    if (input.action === 'create') return Response.json(await adminCreateToken(backend, actorOf(identity), input.user, input.name), { headers: { 'cache-control': 'no-store' } });
    return Response.json({ revoked: await adminRevokeToken(backend, actorOf(identity), input.id) });
  });
}
