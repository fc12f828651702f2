import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits until `check` returns a value (not undefined), polling every `intervalMs`, for at most `timeoutMs`; then
 * fails with `describe()`'s account of where things stand. A bound on waiting, not an assertion about time.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs: number; intervalMs?: number; describe?: () => Promise<string> | string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const state = options.describe ? await options.describe() : '';
      throw new Error(`gave up waiting ${options.timeoutMs} ms for ${what}${state ? `: ${state}` : ''}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

/** A promise and the function that resolves it: for a test to hold a step open and let it go when it chooses. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
