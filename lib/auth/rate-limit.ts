/**
 * Sign-in throttling: failures are counted per user name and per client in a sliding window; past
 * the limit further attempts are refused (429) until the oldest failure leaves the window. In
 * memory, per server process.
 */
export interface LimitRule {
  maxFailures: number;
  windowMs: number;
}

export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly rule: LimitRule) {}

  private recent(key: string, now: number): number[] {
    const kept = (this.failures.get(key) ?? []).filter((time) => now - time < this.rule.windowMs);
    if (kept.length === 0) this.failures.delete(key);
    else this.failures.set(key, kept);
    return kept;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const recent = this.recent(key, now);
    return recent.length < this.rule.maxFailures ? 0 : recent[recent.length - this.rule.maxFailures] + this.rule.windowMs - now;
  }

  fail(key: string, now = Date.now()): void {
    this.failures.set(key, [...this.recent(key, now), now]);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }
}

const WINDOW_MS = 15 * 60 * 1000;
const holder = globalThis as typeof globalThis & { __cotscopeSignIn?: { byName: FailureLimiter; byClient: FailureLimiter } };

/** The process's sign-in limiters: 10 failures per name, 30 per client, in 15 minutes. */
export function signInLimiters(): { byName: FailureLimiter; byClient: FailureLimiter } {
  return (holder.__cotscopeSignIn ??= {
    byName: new FailureLimiter({ maxFailures: 10, windowMs: WINDOW_MS }),
    byClient: new FailureLimiter({ maxFailures: 30, windowMs: WINDOW_MS }),
  });
}
