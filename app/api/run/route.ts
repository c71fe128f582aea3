import { handleRoute, jsonBody } from '@/lib/workbench/route';
import { runRequestSchema } from '@/lib/workbench/queries';
import type { RunEvent } from '@/lib/workbench/contracts';
import { liveRun } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

/**
 * Starts a live run and streams its tokens as server-sent events while they are generated. The
 * stream carries raw chain of thought, so it needs the researcher role. Closing the request cancels the run.
 */
export async function POST(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'researcher', schema: runRequestSchema, input: () => jsonBody(request) }, (run, identity) => {
    const encoder = new TextEncoder();
    const cancel = new AbortController();
    request.signal.addEventListener('abort', () => cancel.abort());
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = (event: RunEvent) => {
          if (!cancel.signal.aborted) controller.enqueue(encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`));
        };
        try {
          await liveRun(run, identity, send, cancel.signal);
        } catch (error) {
          send({ type: 'error', message: (error as Error).message });
        } finally {
          try {
            controller.close();
          } catch {
            // already closed by a cancelled client
          }
        }
      },
      cancel() {
        cancel.abort();
      },
    });
    return new Response(stream, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' },
    });
  });
}
