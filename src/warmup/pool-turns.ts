/**
 * A warm-up worker runs a batch's mailboxes side by side (warmup-work.ts). Two of their steps read the pool and then
 * write what they read it for: the day's plan (§C's per-recipient daily cap and 7-day balance, read from the plans
 * already made) and a new thread's hand-over (the balance again, read from what was handed over). In one process
 * those steps take turns per pool, so each sees what the one before it wrote. Runners in other processes are not
 * covered by this (docs/warmup.md §W, Scheduling).
 */
const lastTurn = new Map<string, Promise<unknown>>();

/** Runs `step` once the pool's earlier turns in this process have settled. */
export function inPoolTurn<T>(organizationId: string, step: () => Promise<T>): Promise<T> {
  const result = (lastTurn.get(organizationId) ?? Promise.resolve()).then(step);
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  lastTurn.set(organizationId, settled);
  void settled.then(() => {
    if (lastTurn.get(organizationId) === settled) lastTurn.delete(organizationId);
  });
  return result;
}
