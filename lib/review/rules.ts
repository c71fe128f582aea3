/**
 * The reasoning filter's policy, read from a rules file (JSON; the shipped default is
 * lib/review/default-rules.json, documented in README.md). A rules file's content decides the
 * filter's version, so an edited policy is stored beside the old output instead of over it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import defaultRulesJson from './default-rules.json';

const categoryName = z.string().min(1).max(60).regex(/^[\p{L}\p{N} ._-]+$/u, 'a category is letters, digits, spaces, . _ -');
const ruleId = z.string().min(1).max(80).regex(/^[A-Za-z0-9._-]+$/, 'a rule id is letters, digits, . _ -');

export const rulesSchema = z.object({
  $comment: z.string().optional(),
  name: z.string().min(1).max(60).regex(/^[A-Za-z0-9._-]+$/).default('policy-redaction'),
  version: z.string().min(1).max(40).default('1'),
  pii: z.object({
    email: z.boolean().default(true),
    phone: z.boolean().default(true),
    paymentCard: z.boolean().default(true),
    secrets: z.boolean().default(true),
    ipAddress: z.boolean().default(true),
  }).strict().prefault({}),
  /** Long random-looking strings; null turns the rule off. */
  highEntropy: z.object({ minLength: z.number().int().min(12).max(512), minBitsPerChar: z.number().min(2).max(8) }).strict().nullable().prefault({ minLength: 24, minBitsPerChar: 4 }),
  /** Runs of at least minWords words shared with the trace's system or developer text; null turns it off. */
  promptLeak: z.object({ minWords: z.number().int().min(3).max(200) }).strict().nullable().prefault({ minWords: 8 }),
  lexicons: z.array(z.object({ category: categoryName, ruleId, terms: z.array(z.string().min(1).max(200)).max(10_000) }).strict()).default([]),
  patterns: z.array(z.object({
    category: categoryName,
    ruleId,
    regex: z.string().min(1).max(2000).refine((source) => { try { new RegExp(source, 'u'); return true; } catch { return false; } }, 'not a valid regular expression'),
    flags: z.string().regex(/^[imsu]*$/, 'flags may be i, m, s, u').default(''),
  }).strict()).default([]),
}).strict();

export type FilterRules = z.infer<typeof rulesSchema>;

/** Bumped when the filter's code changes what it redacts. */
export const FILTER_CODE_VERSION = '1';

export class RulesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RulesError';
  }
}

export function parseRules(json: unknown, source = 'rules'): FilterRules {
  const parsed = rulesSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RulesError(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function readRulesFile(file: string): FilterRules {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RulesError(`${file}: ${(error as Error).message}`);
  }
  return parseRules(json, file);
}

export const RULES_ENV = 'COTSCOPE_FILTER_RULES';

/** The rules in force: COTSCOPE_FILTER_RULES (a file) when set, else the shipped default. */
export function activeRules(env: Record<string, string | undefined> = process.env): FilterRules {
  const file = env[RULES_ENV];
  return file ? readRulesFile(file) : parseRules(defaultRulesJson, 'default-rules.json');
}

/** `CODE.RULESVERSION+HASH`: the same rules give the same version; any edit gives a new one. */
export function filterVersion(rules: FilterRules): string {
  const { $comment: _comment, ...policy } = rules;
  void _comment;
  const hash = createHash('sha256').update(JSON.stringify(policy)).digest('hex').slice(0, 8);
  return `${FILTER_CODE_VERSION}.${rules.version}+${hash}`;
}
