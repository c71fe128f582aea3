/**
 * Checks on the request itself, made before anything else (who is asking comes after): the Host
 * must be a loopback name or one configured in COTSCOPE_ALLOWED_HOSTS (a page on another name that
 * resolves here, as DNS rebinding makes, is refused), and a mutation must come from this origin
 * (`Sec-Fetch-Site` / `Origin`), in local mode too. Used by proxy.ts for every request and by the
 * route helper, so a handler called directly is guarded the same way.
 */
import { AccessError } from './errors';

/** The subset of `Headers` the checks need (works for Request.headers and next/headers). */
export interface HeaderSource {
  get(name: string): string | null;
}

export const ALLOWED_HOSTS_ENV = 'COTSCOPE_ALLOWED_HOSTS';

const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isMutation(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** `host[:port]` -> lower-case host name without port (IPv6 keeps its brackets). */
export function hostName(host: string): string {
  const value = host.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  return value.replace(/:\d*$/, '');
}

/** Host names this server answers to: loopback names plus the configured list (comma separated). */
export function allowedHost(host: string | null, env: Record<string, string | undefined> = process.env): boolean {
  if (!host) return false;
  const name = hostName(host);
  if (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost')) return true;
  const configured = (env[ALLOWED_HOSTS_ENV] ?? '').split(',').map((entry) => entry.trim().toLowerCase()).filter(Boolean);
  return configured.some((entry) => (/:\d+$/.test(entry) && !entry.endsWith(']') ? entry === host.trim().toLowerCase() : hostName(entry) === name));
}

/**
 * True when a browser says the request comes from this origin, or when it carries no browser
 * provenance at all (a script: it cannot ride on a victim's cookie). `Sec-Fetch-Site` other than
 * same-origin, or an `Origin` (including "null") naming another host, is cross-site.
 */
export function sameOrigin(request: { url: string; headers: HeaderSource }): boolean {
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin') return false;
  const origin = request.headers.get('origin');
  if (origin === null) return true;
  const host = requestHost(request);
  try {
    return host !== null && new URL(origin).host === host.trim().toLowerCase();
  } catch {
    return false;
  }
}

/** The Host the client addressed (the header; the URL's host for a Request built without one). */
export function requestHost(request: { url: string; headers: HeaderSource }): string | null {
  const header = request.headers.get('host');
  if (header) return header;
  try {
    return new URL(request.url).host || null;
  } catch {
    return null;
  }
}

/** Throws AccessError (403) for a request to a foreign Host or a cross-site mutation. */
export function guardRequest(request: { method: string; url: string; headers: HeaderSource }, env: Record<string, string | undefined> = process.env): void {
  if (!allowedHost(requestHost(request), env)) {
    throw new AccessError(`host not allowed: add it to ${ALLOWED_HOSTS_ENV} if this server should answer to it`, 403);
  }
  if (isMutation(request.method) && !sameOrigin(request)) {
    throw new AccessError('cross-site request refused: changes must come from this origin', 403);
  }
}
