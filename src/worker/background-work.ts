import { runHealthChecks } from '../health/health-check.js';
import { checkClientSecretExpiry } from '../health/secret-expiry.js';
import { runOutboxRounds } from '../outbox/dispatcher.js';
import type { ServiceDeps } from '../services.js';
import { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { runKeepalive, scheduleUnscheduledAccounts } from '../tokens/keepalive.js';
import type { RandomSource } from '../tokens/lifecycle-policy.js';
import { deliverWebhookBatches } from '../webhooks/webhook-dispatcher.js';

/** One named piece of background work, run once per tick. It should do a small batch and return. */
export interface BackgroundTask {
  name: string;
  run(): Promise<void>;
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
    { name: 'outbox', run: async () => void (await runOutboxRounds(deps, { tokens: provider })) },
    // Up to 4 batches of 50 per tick, so a burst of events does not hold up the other tasks for long.
    { name: 'webhook-delivery', run: async () => void (await deliverWebhookBatches(deps, { batches: 4, limit: 50 })) },
  ];
}

/**
 * The background loop for roles `all` and `worker`: every `intervalMs` after the previous tick ended (ticks never
 * overlap), runs each task in turn; a task that throws is logged and the others still run. `stop()` waits for the
 * tick in progress, so shutdown never cuts a refresh between the token request and storing its result.
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
  let stopped = false;
  let timer: unknown;
  let current: Promise<void> | undefined;

  const tick = async (): Promise<void> => {
    for (const task of tasks) {
      if (stopped) return;
      try {
        await task.run();
      } catch (error) {
        deps.logger.error({ task: task.name, err: error }, 'background task failed');
      }
    }
  };

  const runOnce = async (): Promise<void> => {
    while (current) await current;
    current = tick().finally(() => {
      current = undefined;
    });
    return current;
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      void runOnce().finally(schedule);
    }, intervalMs);
  };

  if (options.autoStart ?? true) schedule();

  return {
    tasks,
    runOnce,
    stop: async () => {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      while (current) await current;
    },
  };
}
