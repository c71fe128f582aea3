/**
 * Policy detectors of the reasoning filter: small pure functions, each returning the character
 * spans it would redact in a text. Every span names its category and the rule that found it.
 */

export interface Span {
  start: number;
  end: number;
  category: string;
  ruleId: string;
}

type Detector = (text: string) => Span[];

function matches(text: string, pattern: RegExp, category: string, ruleId: string, accept: (match: string) => boolean = () => true): Span[] {
  const spans: Span[] = [];
  for (const match of text.matchAll(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`))) {
    if (match[0].length > 0 && accept(match[0])) spans.push({ start: match.index, end: match.index + match[0].length, category, ruleId });
  }
  return spans;
}

/** E-mail addresses: local@domain.tld (a dotted domain with a letter TLD; `user@localhost` is not one). */
export const emailAddresses: Detector = (text) =>
  matches(text, /(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])/, 'e-mail', 'pii.email');

function digitCount(value: string): number {
  return value.replace(/\D/g, '').length;
}

/**
 * Phone numbers: an optional +country code, then groups split by spaces, dots or dashes (or a
 * bracketed area code), 10-15 digits in all. Dates (2024-01-15), versions and plain long numbers
 * are not phone numbers.
 */
export const phoneNumbers: Detector = (text) =>
  matches(text, /(?<![\w.+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{2,4}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?![\w-]|\.\d)/, 'phone number', 'pii.phone', (value) => {
    const digits = digitCount(value);
    return digits >= 10 && digits <= 15 && !/^\d{4}-\d{2}-\d{2}/.test(value);
  });

/** The Luhn checksum every payment card number satisfies. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Payment card numbers: 13-19 digits, optionally in groups split by single spaces or dashes, passing Luhn. */
export const paymentCards: Detector = (text) =>
  matches(text, /(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])/, 'payment card', 'pii.payment-card', (value) => {
    const digits = value.replace(/\D/g, '');
    return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) && !/^(\d)\1+$/.test(digits);
  });

/** API keys and secrets by their published prefixes. */
const SECRET_PREFIXES: { ruleId: string; pattern: RegExp }[] = [
  { ruleId: 'secret.openai', pattern: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/ },
  { ruleId: 'secret.anthropic', pattern: /\bsk-ant-[A-Za-z0-9_-]{20,}/ },
  { ruleId: 'secret.github', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})/ },
  { ruleId: 'secret.aws-access-key', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { ruleId: 'secret.slack', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/ },
  { ruleId: 'secret.google-api-key', pattern: /\bAIza[0-9A-Za-z_-]{35}/ },
  { ruleId: 'secret.gitlab', pattern: /\bglpat-[A-Za-z0-9_-]{20,}/ },
  { ruleId: 'secret.stripe', pattern: /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/ },
  { ruleId: 'secret.huggingface', pattern: /\bhf_[A-Za-z0-9]{30,}/ },
  { ruleId: 'secret.cotscope', pattern: /\bcs[ts]_[A-Za-z0-9_-]{40,}/ },
  { ruleId: 'secret.private-key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/ },
];

export const knownSecrets: Detector = (text) => SECRET_PREFIXES.flatMap(({ ruleId, pattern }) => matches(text, pattern, 'secret', ruleId));

/** Shannon entropy of a string in bits per character. */
export function entropyBitsPerChar(value: string): number {
  const counts = new Map<string, number>();
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) bits -= (count / value.length) * Math.log2(count / value.length);
  return bits;
}

export interface EntropyRule {
  minLength: number;
  minBitsPerChar: number;
}

/**
 * Long high-entropy strings (random keys, passwords): at least `minLength` characters of a key
 * alphabet, mixing letters and digits, above `minBitsPerChar`. Hex digests (at most 4 bits/char)
 * and long words stay below it.
 */
export function highEntropyStrings(rule: EntropyRule): Detector {
  return (text) => matches(text, new RegExp(`(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{${rule.minLength},}(?![A-Za-z0-9+/_=-])`), 'secret', 'secret.high-entropy',
    (value) => /\d/.test(value) && /[A-Za-z]/.test(value) && entropyBitsPerChar(value) >= rule.minBitsPerChar);
}

/** IPv4 addresses (four octets 0-255, not part of a longer dotted run) and full or compressed IPv6. */
export const ipAddresses: Detector = (text) => [
  ...matches(text, /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)/, 'IP address', 'pii.ipv4',
    (value) => value.split('.').every((octet) => Number(octet) <= 255 && !(octet.length > 1 && octet.startsWith('0')))),
  ...matches(text, /(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])/, 'IP address', 'pii.ipv6'),
  ...matches(text, /(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}(?![\w:])/, 'IP address', 'pii.ipv6',
    (value) => value.split(/:+/).filter(Boolean).length >= 3),
];

interface Word {
  text: string;
  start: number;
  end: number;
}

function words(text: string): Word[] {
  return [...text.matchAll(/[\p{L}\p{N}][\p{L}\p{N}'_-]*/gu)].map((match) => ({ text: match[0].toLowerCase(), start: match.index, end: match.index + match[0].length }));
}

/**
 * Leaks of the system or developer prompt: every run of at least `minWords` consecutive words of the
 * text that also appears word for word (case-insensitive) in one of the `sources`.
 */
export function promptLeaks(sources: string[], minWords: number): Detector {
  const shingles = new Set<string>();
  for (const source of sources) {
    const sourceWords = words(source).map((word) => word.text);
    for (let i = 0; i + minWords <= sourceWords.length; i++) shingles.add(sourceWords.slice(i, i + minWords).join(' '));
  }
  return (text) => {
    if (shingles.size === 0) return [];
    const textWords = words(text);
    const covered = new Uint8Array(textWords.length);
    for (let i = 0; i + minWords <= textWords.length; i++) {
      if (shingles.has(textWords.slice(i, i + minWords).map((word) => word.text).join(' '))) covered.fill(1, i, i + minWords);
    }
    const spans: Span[] = [];
    for (let i = 0; i < covered.length; i++) {
      if (!covered[i]) continue;
      let j = i;
      while (j + 1 < covered.length && covered[j + 1]) j++;
      spans.push({ start: textWords[i].start, end: textWords[j].end, category: 'system prompt', ruleId: 'leak.system-prompt' });
      i = j;
    }
    return spans;
  };
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A user lexicon: whole-word, case-insensitive terms of one category. */
export function lexicon(category: string, ruleId: string, terms: string[]): Detector {
  const alternatives = terms.filter((term) => term.trim().length > 0).map((term) => escapeRegExp(term.trim())).sort((a, b) => b.length - a.length);
  if (alternatives.length === 0) return () => [];
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, 'giu');
  return (text) => matches(text, pattern, category, ruleId);
}

/** A user pattern: a regular expression of one category. */
export function pattern(category: string, ruleId: string, source: string, flags = ''): Detector {
  const expression = new RegExp(source, flags.replace('g', ''));
  return (text) => matches(text, expression, category, ruleId);
}

/**
 * Overlapping spans merged to disjoint ones in text order: where two overlap, the one starting
 * first wins (the longer on a tie), and a later one is cut to what lies beyond it.
 */
export function disjointSpans(spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  const result: Span[] = [];
  for (const span of sorted) {
    const last = result[result.length - 1];
    if (last && span.start < last.end) {
      if (span.end > last.end && last.category === span.category) last.end = span.end;
      else if (span.end > last.end) result.push({ ...span, start: last.end });
      continue;
    }
    result.push({ ...span });
  }
  return result;
}
