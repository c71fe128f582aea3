/**
 * Text rules shared by every input path (CLI prompt files, HTTP API, store). PostgreSQL's text
 * and jsonb cannot hold U+0000, and a lone UTF-16 surrogate has no UTF-8 form: either makes the
 * database reject the whole row ("unsupported Unicode escape sequence"). Input is checked at
 * validation, so the caller can name the offending field instead of failing deep in a write.
 */
import { z } from 'zod';

function hex(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Why `text` cannot be stored (with the UTF-16 offset of the first bad character), or null when it can. */
export function unstorableTextReason(text: string): string | null {
  for (let offset = 0; offset < text.length; offset++) {
    const code = text.charCodeAt(offset);
    if (code === 0) return `contains a NUL character (U+0000) at offset ${offset}`;
    if (code < 0xd800 || code > 0xdfff) continue;
    const next = text.charCodeAt(offset + 1);
    if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      offset++; // a valid pair
      continue;
    }
    return `contains a lone surrogate (${hex(code)}) at offset ${offset}`;
  }
  return null;
}

/** True when PostgreSQL can store the string as text (main's API, kept so callers of either version work). */
export function isStorableText(text: string): boolean {
  return unstorableTextReason(text) === null;
}

/** A zod string that rejects what the store cannot hold; chain `.min()` etc. before passing it in, or use as is. */
export function storableText<Schema extends z.ZodString>(schema: Schema = z.string() as Schema) {
  return schema.superRefine((text, context) => {
    const reason = unstorableTextReason(text);
    if (reason) context.addIssue({ code: 'custom', message: reason });
  });
}
