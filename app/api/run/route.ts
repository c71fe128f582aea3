import { clientError, handleRoute, jsonBody } from '@/lib/workbench/route';
import { runRequestSchema } from '@/lib/workbench/queries';
import type { RunEvent } from '@/lib/workbench/contracts';
import { auditRawRead, liveRun } from '@/lib/workbench/server';

export const dynamic = 'force-dynamic';

const RUN_BODY_BYTES = 128 * 1024;

/**
 * Starts a live run and streams its tokens as server-sent events while they are generated. The
 * stream carries raw chain of thought, so it needs the researcher role. Closing the request cancels
 * the run (or drops it from the queue). A full run queue is answered 503 before any event is sent.
 */
export async function POST(request: Request): Promise<Response> {
  return handleRoute(request, { role: 'researcher', schema: runRequestSchema, input: () => jsonBody(request, RUN_BODY_BYTES) }, (run, identity) => {
    const encoder = new TextEncoder();
    const cancel = new AbortController();
    request.signal.addEventListener('abort', () => cancel.abort());
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const send = (event: RunEvent) => {
      if (!cancel.signal.aborted) writer.write(encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)).catch(() => cancel.abort());
    };
    const finished = liveRun(run, identity, send, cancel.signal); // throws RequestRefusedError (503) when the queue is full
    // An SSE comment flushes the headers now, so a client waiting in the queue knows it was accepted.
    writer.write(encoder.encode(': accepted\n\n')).catch(() => cancel.abort());
    finished
      .then((traceId) => (traceId ? auditRawRead(identity, traceId, 'POST /api/run (live run stream)') : undefined))
      .catch((error: unknown) => send({ type: 'error', message: clientError(error).message }))
      .finally(() => writer.close().catch(() => undefined));
    return new Response(readable, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' },
    });
  });
}
