import { handleRoute, jsonBody } from '@/lib/workbench/route';
import { adminUserSchema } from '@/lib/workbench/queries';
import { adminAddUser, adminRemoveUser, adminSetRole } from '@/lib/auth/admin';
import { listUsers } from '@/lib/auth/accounts';
import { actorOf } from '@/lib/auth/audit';
import { z } from 'zod';
import { store } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/** Users with their tokens (names, times; never a token). Admins only. */
export async function GET(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'admin', schema: z.unknown(), input: () => null }, async () => Response.json({ users: await listUsers((await store()).backend) }));
}

/** Adds a user, changes a role or removes a user; audited. Admins only. */
export async function POST(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'admin', schema: adminUserSchema, input: () => jsonBody(request, 4096) }, async (input, identity) => {
    const { backend } = await store();
    const actor = actorOf(identity);
    if (input.action === 'add') await adminAddUser(backend, actor, input);
    else if (input.action === 'set-role') await adminSetRole(backend, actor, input.name, input.role);
    else await adminRemoveUser(backend, actor, input.name);
    return Response.json({ ok: true });
  });
}
