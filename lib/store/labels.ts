/** Collections (named sets of traces, e.g. "red-team batch 3") and tags. */
import type { Backend } from './backend';
import { addTags, addToCollection } from './traces';

export interface LabelCount {
  name: string;
  traces: number;
}

export async function addTracesToCollection(backend: Backend, name: string, traceIds: string[]): Promise<void> {
  await backend.fast.transaction((query) => addToCollection(query, name, traceIds));
}

export async function removeTraceFromCollection(backend: Backend, name: string, traceId: string): Promise<void> {
  await backend.prisma.collectionTrace.deleteMany({ where: { traceId, collection: { name } } });
}

export async function listCollections(backend: Backend): Promise<LabelCount[]> {
  const rows = await backend.prisma.collection.findMany({ orderBy: { name: 'asc' }, include: { _count: { select: { traces: { where: { trace: { deletedAt: null } } } } } } });
  return rows.map((row) => ({ name: row.name, traces: row._count.traces }));
}

export async function tagTrace(backend: Backend, traceId: string, names: string[]): Promise<void> {
  await backend.fast.transaction((query) => addTags(query, traceId, names));
}

export async function untagTrace(backend: Backend, traceId: string, name: string): Promise<void> {
  await backend.prisma.traceTag.deleteMany({ where: { traceId, tag: { name } } });
}

export async function listTags(backend: Backend): Promise<LabelCount[]> {
  const rows = await backend.prisma.tag.findMany({ orderBy: { name: 'asc' }, include: { _count: { select: { traces: { where: { trace: { deletedAt: null } } } } } } });
  return rows.map((row) => ({ name: row.name, traces: row._count.traces }));
}
