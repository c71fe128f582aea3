/** zod schemas for every workbench request; route handlers validate with these first. */
import { z } from 'zod';
import { SORT_KEYS, TRACE_STATUSES } from './contracts';
import { storableText } from '../trace/text';
import { ROLES } from '../auth/roles';
import { VERDICT_VALUES } from '../review/vocabulary';

const optionalText = storableText(z.string().max(200))
  .trim()
  .optional()
  .transform((value) => (value ? value : undefined));
/** A calendar date PostgreSQL's timestamptz holds: YYYY-MM-DD with an optional time, years 0001-9999. */
const isoDate = z
  .string()
  .optional()
  .refine((value) => !value || (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) && !Number.isNaN(Date.parse(value)) && !value.startsWith('0000')),
    'must be an ISO date (YYYY-MM-DD, years 0001-9999)')
  .transform((value) => (value ? value : undefined));

export const traceListQuerySchema = z.object({
  search: optionalText,
  model: optionalText,
  collection: optionalText,
  effort: optionalText,
  status: z.enum(TRACE_STATUSES).optional(),
  tag: optionalText,
  from: isoDate,
  to: isoDate,
  hasAnnotations: z.enum(['true', 'false']).optional().transform((value) => (value === undefined ? undefined : value === 'true')),
  label: optionalText,
  verdict: z.enum(VERDICT_VALUES).optional(),
  annotator: optionalText,
  sort: z.enum(SORT_KEYS).default('createdAt'),
  direction: z.enum(['asc', 'desc']).default('desc'),
  cursor: optionalText,
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const traceIdSchema = z.string().min(1).max(100).regex(/^[A-Za-z0-9_-]+$/, 'trace id may hold letters, digits, _ and -');

export const tokenDetailQuerySchema = z.object({
  index: z.coerce.number().int().min(0),
  layer: z.coerce.number().int().min(0).default(0),
});

export const attentionQuerySchema = z.object({
  layer: z.coerce.number().int().min(0).default(0),
  head: z.coerce.number().int().min(0).default(0),
});

export const REASONING_EFFORTS = ['low', 'medium', 'high'] as const;

export const runRequestSchema = z.object({
  prompt: storableText(z.string().trim().min(1, 'prompt must not be empty').max(20000)),
  system: storableText(z.string().max(20000)).optional(),
  developer: storableText(z.string().max(20000)).optional(),
  effort: z.enum(REASONING_EFFORTS).default('medium'),
  temperature: z.number().min(0).max(2).default(1),
  topP: z.number().gt(0).max(1).default(1),
  seed: z.number().int().min(0).default(0),
  maxNewTokens: z.number().int().min(1).max(4096).default(64),
  /** Prefill `<|channel|>analysis<|message|>` so generation starts in the reasoning channel. */
  startInAnalysis: z.boolean().default(true),
});
export type RunRequest = z.infer<typeof runRequestSchema>;

/** Sign-in: a name and password, or an API token (a user who has no password). */
export const sessionRequestSchema = z.union([
  z.object({ name: z.string().min(1).max(64), password: z.string().min(1).max(200) }).strict(),
  z.object({ token: z.string().min(1).max(500) }).strict(),
]);
export type SessionRequest = z.infer<typeof sessionRequestSchema>;

const roleSchema = z.enum(ROLES);
const userName = z.string().min(1).max(64);

/** Admin: add a user, change a role, remove a user. */
export const adminUserSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('add'), name: userName, role: roleSchema, password: z.string().min(1).max(200).optional() }).strict(),
  z.object({ action: z.literal('set-role'), name: userName, role: roleSchema }).strict(),
  z.object({ action: z.literal('remove'), name: userName }).strict(),
]);

/** Admin: create a token for a user, or revoke one by id. */
export const adminTokenSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('create'), user: userName, name: z.string().min(1).max(100).default('token') }).strict(),
  z.object({ action: z.literal('revoke'), id: z.string().min(1).max(100) }).strict(),
]);

export const auditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  action: optionalText,
  actor: optionalText,
});

/** URLSearchParams -> plain object for zod (first value of each key). */
export function searchParamsObject(params: URLSearchParams): Record<string, string> {
  return Object.fromEntries(params.entries());
}
