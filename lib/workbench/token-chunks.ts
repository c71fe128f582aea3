/**
 * Lazy token-aligned text: a panel's tokens are cut into fixed-size chunks. A chunk renders as one
 * plain text node (same glyphs, same layout) until it scrolls near view, and only then as one span
 * per token. So an 8k-token trace ships, parses, lays out and hydrates a few dozen nodes, not 8k.
 */

/** Tokens per chunk: small enough that materialising one is a few milliseconds. */
export const TOKEN_CHUNK_SIZE = 256;

/** Consecutive runs of `size` token indices, in panel order. */
export function chunkTokens(indices: readonly number[], size = TOKEN_CHUNK_SIZE): number[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`token chunk size must be a positive integer (got ${size})`);
  const chunks: number[][] = [];
  for (let start = 0; start < indices.length; start += size) chunks.push(indices.slice(start, start + size));
  return chunks;
}

/** Which chunk holds each token index of the panel. */
export function chunkOfToken(chunks: readonly number[][]): Map<number, number> {
  const owner = new Map<number, number>();
  chunks.forEach((chunk, position) => chunk.forEach((token) => owner.set(token, position)));
  return owner;
}

/** The chunk's text as one string: exactly the concatenation of its tokens' texts. */
export function chunkText(chunk: readonly number[], texts: readonly string[]): string {
  return chunk.map((token) => texts[token] ?? '').join('');
}
