/** The query of GET /api/export (also in the OpenAPI registry): the trace list's filters plus format, parts and ids. */
import { z } from 'zod';
import { traceListQuerySchema } from '../workbench/queries';
import { DEFAULT_INCLUDE, INCLUDE_PARTS, type IncludePart } from './columns';

export const exportQuerySchema = traceListQuerySchema.omit({ sort: true, direction: true, cursor: true, limit: true }).extend({
  format: z.enum(['parquet', 'jsonl']).default('parquet'),
  archive: z.enum(['zip', 'none']).default('zip'),
  include: z.string().max(200).optional().transform((value, context) => {
    if (value === undefined) return [...DEFAULT_INCLUDE];
    const parts = value.split(',').map((part) => part.trim()).filter(Boolean);
    const unknown = parts.filter((part) => !(INCLUDE_PARTS as readonly string[]).includes(part));
    if (unknown.length > 0) context.addIssue({ code: 'custom', message: `takes ${INCLUDE_PARTS.join(', ')} (got ${unknown.join(', ')})` });
    return parts as IncludePart[];
  }),
  ids: z.string().max(100_000).optional().transform((value) => value?.split(',').map((id) => id.trim()).filter(Boolean)),
  promptId: z.string().max(200).optional(),
  shardSize: z.coerce.number().int().min(1).max(1_000_000).default(1000),
});
export type ExportQuery = z.infer<typeof exportQuerySchema>;
