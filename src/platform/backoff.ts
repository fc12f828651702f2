/**
 * The pieces every retry schedule of mailbridge is made of (token refresh backoff, outbox send retries, webhook
 * delivery retries), so each schedule says only its own numbers.
 */

/** `baseMs × 2^(attempt − 1)` for the attempt-th retry (attempt ≥ 1; the exponent stops at 20), at most `maxMs`. */
export function exponentialDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 20));
  return Math.min(maxMs, baseMs * 2 ** exponent);
}

/**
 * `ms` spread evenly over ±`spread` of itself (0.2: 80 % to 120 %), so retries scheduled together do not come back
 * together. `random` returns a number in [0, 1).
 */
export function withJitter(ms: number, spread: number, random: () => number): number {
  return ms * (1 - spread + 2 * spread * random());
}
