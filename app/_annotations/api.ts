/** Browser calls to the annotation, verdict, queue and collection routes; errors carry the server's message. */
import type { Severity, VerdictValue } from '@/lib/annotate/keys';
import type { Agreement, AnnotationJson, CollectionSummary, QueueProgress, TraceAnnotations, VerdictJson } from '@/lib/annotate/contracts';

async function call<T>(url: string, method = 'GET', body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    cache: 'no-store',
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: { error?: string } = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    if (response.ok) throw new Error(`${url}: the server answered ${response.status} with no JSON`);
  }
  if (!response.ok) throw new Error(parsed.error ?? `${response.status} ${response.statusText}`);
  return parsed as T;
}

const trace = (id: string) => `/api/traces/${encodeURIComponent(id)}`;
const annotation = (id: string) => `/api/annotations/${encodeURIComponent(id)}`;
const collection = (name: string) => `/api/collections/${encodeURIComponent(name)}`;

export interface SpanDraft {
  tokenStart: number;
  tokenEnd: number;
  label: string;
  severity: Severity;
  note?: string;
}

export type SpanChange = Partial<Pick<AnnotationJson, 'label' | 'severity' | 'note' | 'tokenStart' | 'tokenEnd'>>;

export const annotationsApi = {
  load: (traceId: string) => call<TraceAnnotations>(`${trace(traceId)}/annotations`),
  create: (traceId: string, draft: SpanDraft) => call<{ annotation: AnnotationJson }>(`${trace(traceId)}/annotations`, 'POST', draft),
  update: (id: string, change: SpanChange) => call<{ annotation: AnnotationJson }>(annotation(id), 'PATCH', change),
  remove: (id: string) => call<void>(annotation(id), 'DELETE'),
  review: (id: string, decision: 'accept' | 'reject') => call<{ annotation: AnnotationJson }>(`${annotation(id)}/review`, 'POST', { decision }),
  propose: (traceId: string) => call<{ annotations: AnnotationJson[] }>(`${trace(traceId)}/proposals`, 'POST', {}),
  verdict: (traceId: string, verdict: VerdictValue, rationale?: string) => call<{ verdict: VerdictJson }>(`${trace(traceId)}/verdict`, 'PUT', { verdict, rationale }),
};

export const collectionsApi = {
  list: () => call<{ collections: CollectionSummary[] }>('/api/collections'),
  get: (name: string) => call<{ collection: CollectionSummary }>(collection(name)),
  update: (name: string, change: Partial<Pick<CollectionSummary, 'overlap' | 'blind' | 'taxonomy'>>) => call<{ collection: CollectionSummary }>(collection(name), 'PATCH', change),
  next: (name: string) => call<{ traceId: string | null; progress: QueueProgress }>(`${collection(name)}/queue/next`, 'POST', {}),
  skip: (name: string, traceId: string) => call<{ progress?: QueueProgress }>(`${collection(name)}/queue/skip`, 'POST', { traceId }),
  progress: (name: string) => call<{ progress: QueueProgress }>(`${collection(name)}/queue`),
  agreement: (name: string) => call<Agreement>(`${collection(name)}/agreement`),
};

export const curationApi = {
  update: (traceId: string, change: { tags?: string[]; collections?: string[] }) => call<unknown>(trace(traceId), 'PATCH', change),
  remove: (traceId: string) => call<void>(trace(traceId), 'DELETE', {}),
  restore: (traceId: string) => call<unknown>(`${trace(traceId)}/restore`, 'POST', {}),
};
