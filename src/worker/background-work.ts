import { runBounceScans } from '../bounces/bounce-scan.js';
import { runHealthChecks } from '../health/health-check.js';
import { checkClientSecretExpiry } from '../health/secret-expiry.js';
import { InProcessJobEngine } from '../jobs/in-process-engine.js';
import { JOBS, type JobName } from '../jobs/job-engine.js';
import { runOutboxRounds } from '../outbox/dispatcher.js';
import type { ServiceDeps } from '../services.js';
import { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { runKeepalive, scheduleUnscheduledAccounts } from '../tokens/keepalive.js';
import type { RandomSource } from '../tokens/lifecycle-policy.js';
import { runWarmupDue } from '../warmup/warmup-work.js';
import { deliverWebhookBatches } from '../webhooks/webhook-dispatcher.js';

/**
 * One named piece of background work, run once per tick. It should do a bounded batch and return; `'more'` when it
 * stopped with work still waiting (the loop then runs it again right after the tick, as if nudged, instead of
 * leaving a backlog for the next interval).
 */
export interface BackgroundTask {
  name: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: a task written `async () => {}` returns Promise<void>.
  run(): Promise<void | 'more'>;
}

/** Timers, injectable so tests drive ticks themselves. */
export interface WorkerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface BackgroundWorkOptions {
  /** Pause between the end of one tick and the start of the next. Default 5 s. */
  intervalMs?: number;
  /** The token provider to share (default: a new one on `deps`). */
  provider?: AccessTokenProvider;
  /** Tasks added after the built-in ones (the webhook dispatcher goes here). */
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
 * The built-in tasks, in the order a tick runs them. To add work (the webhook dispatcher), pass it in
 * `extraTasks`, or add it to this list: each task is `{ name, run }` and is isolated from the others' failures.
 */
export function builtInTasks(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: Pick<BackgroundWorkOptions, 'random' | 'scheduleRepairIntervalMs'> = {},
): BackgroundTask[] {
  const random = options.random ?? Math.random;
  const repairEvery = options.scheduleRepairIntervalMs ?? 3_600_000;
  let lastRepairAt: number | undefined;
  return [
    {
      name: 'schedule-repair',
      run: async () => {
        const now = deps.clock.now();
        if (lastRepairAt !== undefined && now - lastRepairAt < repairEvery) return;
        lastRepairAt = now;
        await scheduleUnscheduledAccounts(deps, { policy: provider.policy, random });
      },
    },
    { name: 'keepalive', run: async () => void (await runKeepalive(deps, provider, { random })) },
    { name: 'health-check', run: async () => void (await runHealthChecks(deps, provider, { random })) },
    { name: 'secret-expiry', run: async () => void (await checkClientSecretExpiry(deps)) },
    // Non-delivery reports in the Inbox of accounts that sent recently and can read mail (src/bounces/).
    {
      name: 'bounce-scan',
      run: async () =>
        (await runBounceScans(deps, provider, { batchSize: BOUNCE_BATCH })).claimed >= BOUNCE_BATCH
          ? 'more'
          : undefined,
    },
    // Warm-up mailboxes whose work is due (src/warmup/warmup-work.ts); a full batch asks for another right after.
    {
      name: 'warmup',
      run: async () =>
        (await runWarmupDue(deps, provider, { batchSize: WARMUP_BATCH })).claimed >= WARMUP_BATCH ? 'more' : undefined,
    },
    {
      name: 'outbox',
      run: async () => ((await runOutboxRounds(deps, { tokens: provider })) ? 'more' : undefined),
    },
    // Up to 4 batches of 50 per tick, so a burst of events does not hold up the other tasks for long.
    { name: 'webhook-delivery', run: async () => void (await deliverWebhookBatches(deps, { batches: 4, limit: 50 })) },
  ];
}

/** Accounts whose Inbox one tick reads for non-delivery reports; a full batch asks for another right after. */
const BOUNCE_BATCH = 20;
/** Warm-up mailboxes one tick runs; a full batch asks for another right after. */
const WARMUP_BATCH = 20;

/** Which of the loop's tasks does what a job of each name asks for (the in-process engine's nudges). */
const TASKS_BY_JOB: Partial<Record<JobName, readonly string[]>> = {
  [JOBS.outboxMailbox]: ['outbox'],
  [JOBS.webhookDelivery]: ['webhook-delivery'],
};

/** Nudges arriving together (a burst of accepted messages) make one early tick. */
const NUDGE_DELAY_MS = 25;

/**
 * The background loop of the embedded SQLite default (roles `all` and, alone, `worker`), and of tests on either
 * dialect: every `intervalMs` after the previous tick ended (ticks never overlap), runs each task in turn; a task
 * that throws is logged and the others still run. An enqueue on the in-process job engine (`deps.jobs`) nudges it:
 * the tasks that do that work run after a short debounce instead of at the end of the interval. `stop()` waits for
 * the tick in progress, so shutdown never cuts a refresh between the token request and storing its result.
 */
export function startBackgroundWork(deps: ServiceDeps, options: BackgroundWorkOptions = {}): BackgroundWork {
  const provider = options.provider ?? new AccessTokenProvider(deps, { random: options.random });
  const tasks = [...builtInTasks(deps, provider, options), ...(options.extraTasks ?? [])];
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
      ? deps.jobs.onDue((name) => nudge(TASKS_BY_JOB[name] ?? []))
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
