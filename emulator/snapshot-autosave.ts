import type { EmulatorContext } from './context.js';
import { saveSnapshot } from './snapshot.js';

/**
 * Saves the emulated world as it changes, so a crash (SIGKILL, power loss) keeps what the emulator answered, not
 * only a graceful stop: connected demo accounts keep their refresh tokens. Every answered request and every SMTP
 * submission notes a change (`ctx.onStateChange`); a save follows `delayMs` after the first change, and changes
 * during a save make one more save after it, so writes are coalesced whatever the traffic, and none happen when idle.
 * The next save also waits `SAVE_COST_FACTOR` times as long as the last one took: a large world (a 150 MB snapshot
 * takes seconds to write) spends at most about a fifth of the time saving instead of saving back to back. Each save
 * is `saveSnapshot`'s atomic temp-file + fsync + rename (+ directory fsync).
 *
 * A change is durable at most `delayMs` plus one save's time after it was answered. The window is accepted for a
 * demo: mailbridge treats a lost answer like any Microsoft failure (a refresh token rotated in that window and
 * lost makes the account reconnect). See README › Performance for what a save costs.
 */
export const AUTOSAVE_DELAY_MS = 200;
/** A save every 200 ms or 4× the last save's duration, whichever is longer: saving ≤ ~20 % of the time. */
const SAVE_COST_FACTOR = 4;

export interface SnapshotAutosave {
  /** Resolves when every change noted before the call is on disk (or its save failed and was reported). */
  flush(): Promise<void>;
  /** Stops listening for changes and waits for the save in flight; saves nothing more (the caller may save last). */
  stop(): Promise<void>;
}

export function startSnapshotAutosave(
  ctx: EmulatorContext,
  file: string,
  options: { delayMs?: number; onError: (error: unknown) => void },
): SnapshotAutosave {
  const delayMs = options.delayMs ?? AUTOSAVE_DELAY_MS;
  let dirty = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let saving: Promise<void> | undefined;
  let lastSaveMs = 0;

  const schedule = (): void => {
    if (stopped || timer || saving) return;
    timer = setTimeout(() => void save(), Math.max(delayMs, lastSaveMs * SAVE_COST_FACTOR));
  };

  const save = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    dirty = false;
    const started = performance.now();
    saving = saveSnapshot(ctx, file)
      .then(
        () => undefined,
        (error: unknown) => {
          // Not saved: try again after the delay (a full disk is retried, at the same bounded rate).
          dirty = true;
          options.onError(error);
        },
      )
      .finally(() => {
        lastSaveMs = performance.now() - started;
        saving = undefined;
        if (dirty) schedule();
      });
    return saving;
  };

  ctx.onStateChange = () => {
    dirty = true;
    schedule();
  };

  return {
    flush: async () => {
      if (saving) await saving;
      if (dirty && !stopped) await save();
    },
    stop: async () => {
      stopped = true;
      ctx.onStateChange = undefined;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (saving) await saving;
    },
  };
}
