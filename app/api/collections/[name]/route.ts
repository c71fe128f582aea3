import { collectionSummary, updateCollection } from '@/lib/review/collections';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ name: string }> };

export async function GET(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.getCollection, context, async ({ params }) =>
    Response.json({ collection: await collectionSummary(await backend(), params.name) }));
}

export async function PATCH(request: Request, context: Context): Promise<Response> {
  return handleApiRoute(request, API.updateCollection, context, async ({ params, body }, identity) =>
    Response.json({ collection: await updateCollection(await backend(), identity, params.name, body) }));
}
