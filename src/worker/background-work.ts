import type { LoopTask } from '../jobs/background-kind.js';
import { InProcessJobEngine } from '../jobs/in-process-engine.js';
import type { ServiceDeps } from '../services.js';
import { AccessTokenProvider } from '../tokens/access-token-provider.js';
import type { RandomSource } from '../tokens/lifecycle-policy.js';

/** One named piece of background work, run once per tick (a registered kind's `LoopTask`, or a test's own). */
export type BackgroundTask = Pick<LoopTask, 'name' | 'run'>;

/** Timers, injectable so tests drive ticks themselves. */
export interface WorkerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface BackgroundWorkOptions {
  /** Pause between the end of one tick and the start of the next. Default 5 s. */
  intervalMs?: number;
  /** The token provider to share (default: the service's, `deps.tokens`, or one with `random` when given). */
  provider?: AccessTokenProvider;
  /** Tasks added after the registered ones (tests). */
  extraTasks?: readonly BackgroundTask[];
  /** false: no timer; only `runOnce()` runs ticks (tests). Default true. */
  autoStart?: boolean;
  timers?: WorkerTimers;
  random?: RandomSource;
  /** How often accounts without a schedule are given one. Default hourly. */
  scheduleRepairIntervalMs?: number;
}

export interface BackgroundWork {
  /** Runs one tick now (waits for a tick already running first). */
  runOnce(): Promise<void>;
  /** Stops the timer and waits for the tick in progress. Idempotent. */
  stop(): Promise<void>;
  readonly tasks: readonly BackgroundTask[];
}

/**
 * The registered kinds' loop tasks (`deps.background`), in the order a tick runs them. Each task is `{ name, run }`
 * and is isolated from the others' failures; a kind's declaration (src/jobs/background-kind.ts) says which.
 */
export function builtInTasks(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: Pick<BackgroundWorkOptions, 'random' | 'scheduleRepairIntervalMs'> = {},
): BackgroundTask[] {
  return loopOf(deps, provider, options).tasks;
}

function loopOf(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: Pick<BackgroundWorkOptions, 'random' | 'scheduleRepairIntervalMs'>,
) {
  return deps.background.loop({
    deps,
    provider,
    random: options.random ?? Math.random,
    scheduleRepairIntervalMs: options.scheduleRepairIntervalMs ?? 3_600_000,
  });
}

/** Nudges arriving together (a burst of accepted messages) make one early tick. */
const NUDGE_DELAY_MS = 25;

/**
 * The background loop of the embedded SQLite default (roles `all` and, alone, `worker`), and of tests on either
 * dialect: every `intervalMs` after the previous tick ended (ticks never overlap), runs each task in turn; a task
 * that throws is logged and the others still run. An enqueue on the in-process job engine (`deps.jobs`) nudges it:
 * the enqueued kind's tasks run after a short debounce instead of at the end of the interval. `stop()` waits for
 * the tick in progress, so shutdown never cuts a refresh between the token request and storing its result.
 */
export function startBackgroundWork(deps: ServiceDeps, options: BackgroundWorkOptions = {}): BackgroundWork {
  // A test's own jitter needs a provider of its own; otherwise the service's.
  const provider =
    options.provider ?? (options.random ? new AccessTokenProvider(deps, { random: options.random }) : deps.tokens);
  const loop = loopOf(deps, provider, options);
  const tasks: BackgroundTask[] = [...loop.tasks, ...(options.extraTasks ?? [])];
  const timers: WorkerTimers = options.timers ?? {
    // Not unref'd: in the `worker` role this loop is what keeps the process alive until stop().
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  };
  const intervalMs = options.intervalMs ?? 5_000;
  const autoStart = options.autoStart ?? true;
  let stopped = false;
  let timer: unknown;
  let current: Promise<void> | undefined;
  /** Tasks nudged and not yet run (a full tick clears them all). */
  const nudged = new Set<string>();
  /** When the last full tick ended: the interval counts from there. */
  let lastFullTickAt = performance.now();

  const tick = async (only?: ReadonlySet<string>): Promise<void> => {
    for (const task of tasks) {
      if (stopped) return;
      if (only && !only.has(task.name)) continue;
      nudged.delete(task.name);
      try {
        // Work left: run it again right after this tick (inside a tick, a nudge only marks the task).
        if ((await task.run()) === 'more') nudge([task.name]);
      } catch (error) {
        deps.logger.error({ task: task.name, err: error }, 'background task failed');
      }
    }
    if (!only) lastFullTickAt = performance.now();
  };

  const runTasks = async (only?: ReadonlySet<string>): Promise<void> => {
    while (current) await current;
    current = tick(only).finally(() => {
      current = undefined;
    });
    return current;
  };

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = timers.setTimeout(() => {
      timer = undefined;
      // A nudged tick runs only the nudged tasks, unless a full tick is due anyway: a steady stream of nudges must
      // not hold back the other tasks.
      const full = nudged.size === 0 || performance.now() - lastFullTickAt >= intervalMs;
      void runTasks(full ? undefined : new Set(nudged)).finally(() =>
        schedule(nudged.size > 0 ? NUDGE_DELAY_MS : Math.max(0, intervalMs - (performance.now() - lastFullTickAt))),
      );
    }, delayMs);
  };

  const nudge = (taskNames: readonly string[]): void => {
    if (stopped || !autoStart) return;
    const fresh = taskNames.filter((name) => !nudged.has(name));
    if (fresh.length === 0) return;
    for (const name of fresh) nudged.add(name);
    // During a tick, the next one follows it (see schedule); otherwise replace the interval's timer with a short one.
    if (!current) schedule(NUDGE_DELAY_MS);
  };

  const unsubscribe =
    deps.jobs instanceof InProcessJobEngine && autoStart
      ? deps.jobs.onDue((name) => nudge(loop.nudged.get(name) ?? []))
      : undefined;

  if (autoStart) schedule(intervalMs);

  return {
    tasks,
    runOnce: () => runTasks(),
    stop: async () => {
      stopped = true;
      unsubscribe?.();
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      while (current) await current;
    },
  };
}
