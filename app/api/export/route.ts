import { handleRoute } from '@/lib/workbench/route';
import { searchParamsObject } from '@/lib/workbench/queries';
import { exportResponse } from '@/lib/datasets/http';
import { exportQuerySchema } from '@/lib/datasets/query';
import { processStore } from '@/lib/store/process';

export const dynamic = 'force-dynamic';

/** Streams the selected traces as a dataset (zip of Parquet or JSON Lines + card, or the data file alone). */
export async function GET(request: Request): Promise<Response> {
  return handleRoute(
    request,
    { role: 'viewer', schema: exportQuerySchema, input: () => searchParamsObject(new URL(request.url).searchParams) },
    async (query, identity) => exportResponse(await processStore(), identity, query),
  );
}
