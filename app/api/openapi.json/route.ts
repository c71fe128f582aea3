import { z } from 'zod';
import { handlePublicRoute } from '@/lib/workbench/route';
import { openApiDocument } from '@/lib/workbench/openapi';

export const dynamic = 'force-dynamic';

/** The OpenAPI 3.1 document, generated from the zod schemas the routes validate with. */
export async function GET(request: Request): Promise<Response> {
  return handlePublicRoute(request, { schema: z.unknown(), input: () => null }, () => Response.json(openApiDocument()));
}
