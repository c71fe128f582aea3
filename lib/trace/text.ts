/** Text rules shared by every input path (CLI prompt files, HTTP API, store). */

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when PostgreSQL can store the string as text: it has no NUL character (text cannot hold
 * one) and no unpaired UTF-16 surrogate (it has no UTF-8 encoding, so JSON and text columns reject it).
 */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}
