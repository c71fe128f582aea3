import { listCollectionSummaries } from '@/lib/review/collections';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function GET(request: Request): Promise<Response> {
  return handleApiRoute(request, API.listCollections, undefined, async () =>
    Response.json({ collections: await listCollectionSummaries(await backend()) }));
}
