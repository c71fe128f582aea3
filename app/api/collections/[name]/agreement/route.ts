import { collectionAgreement } from '@/lib/review/collections';
import { API, handleApiRoute } from '@/lib/workbench/openapi';
import { backend } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, context: { params: Promise<{ name: string }> }): Promise<Response> {
  return handleApiRoute(request, API.agreement, context, async ({ params }) =>
    Response.json(await collectionAgreement(await backend(), params.name)));
}
