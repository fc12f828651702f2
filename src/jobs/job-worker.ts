import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceDeps } from '../services.js';
import { AccessTokenProvider } from '../tokens/access-token-provider.js';
import type { BackgroundWork } from '../worker/background-work.js';
import { JOB_NAMES, JOBS, type JobName } from './job-engine.js';
import { type JobHandler, jobHandlers, sweepOutbox } from './job-handlers.js';
import type { FetchedJob, PgBossJobEngine } from './pg-boss-engine.js';

/**
 * The background work of roles `all` and `worker` on PostgreSQL (issue 5 items 1–2): one fetch loop per queue keeps
 * up to that queue's concurrency of jobs running in this process, fetching as slots free (pg-boss's `fetch` takes
 * due jobs with `FOR UPDATE SKIP LOCKED`, so any number of processes share the queues) and polling every
 * `pollMs` (never under pg-boss's 0.5 s floor) while the queue is empty. Periodic work runs on pg-boss's cron,
 * which sends each due schedule once across all processes.
 *
 * A worker killed mid-job (SIGKILL) loses nothing: its jobs stay `active` until pg-boss's expiry retries them; the
 * messages it claimed come back when their database leases end, and the outbox sweep (every minute) gives every
 * lane with due work a job again.
 */

export interface JobWorkerOptions {
  /** Jobs of each queue running at once in this process. */
  concurrency?: Partial<Record<JobName, number>>;
  /** Poll interval of an empty queue, per queue (ms, at least 500). */
  pollMs?: Partial<Record<JobName, number>>;
  /** The token provider the handlers share (default: a new one on `deps`). */
  provider?: AccessTokenProvider;
  /** How long one lane pass may claim (default 20 s). */
  laneBudgetMs?: number;
}

const DEFAULT_CONCURRENCY: Record<JobName, number> = {
  [JOBS.outboxMailbox]: 16,
  [JOBS.outboxSweep]: 1,
  [JOBS.webhookDelivery]: 8,
  [JOBS.keepaliveSweep]: 2,
  [JOBS.healthSweep]: 2,
  [JOBS.bounceSweep]: 2,
  [JOBS.warmupSweep]: 2,
  [JOBS.hourlyMaintenance]: 1,
};

const DEFAULT_POLL_MS: Record<JobName, number> = {
  [JOBS.outboxMailbox]: 500,
  [JOBS.outboxSweep]: 2_000,
  [JOBS.webhookDelivery]: 1_000,
  [JOBS.keepaliveSweep]: 2_000,
  [JOBS.healthSweep]: 2_000,
  [JOBS.bounceSweep]: 2_000,
  [JOBS.warmupSweep]: 2_000,
  [JOBS.hourlyMaintenance]: 5_000,
};

/** pg-boss's own floor for polling (docs/engineering.md §J: polling ≥ 0.5 s). */
const MIN_POLL_MS = 500;

/** Cron schedules (UTC). Sweeps every minute cost one index probe each when nothing is due. */
const SCHEDULES: ReadonlyArray<[JobName, string]> = [
  [JOBS.outboxSweep, '* * * * *'],
  [JOBS.keepaliveSweep, '* * * * *'],
  [JOBS.healthSweep, '* * * * *'],
  [JOBS.bounceSweep, '* * * * *'],
  [JOBS.warmupSweep, '* * * * *'],
  [JOBS.hourlyMaintenance, '7 * * * *'],
];

export async function startJobWorker(
  deps: ServiceDeps,
  engine: PgBossJobEngine,
  options: JobWorkerOptions = {},
): Promise<BackgroundWork> {
  const provider = options.provider ?? new AccessTokenProvider(deps);
  const stopping = new AbortController();
  const handlers = jobHandlers(deps, {
    provider,
    signal: stopping.signal,
    ...(options.laneBudgetMs === undefined ? {} : { laneBudgetMs: options.laneBudgetMs }),
  });
  for (const [name, cron] of SCHEDULES) await engine.schedule(name, cron);
  // A first look at once rather than at the next minute: a worker starting after an outage finds what is due.
  await engine.enqueue(deps.db, JOBS.outboxSweep, {}, { singletonKey: 'start' });
  await engine.enqueue(deps.db, JOBS.hourlyMaintenance, {}, { singletonKey: 'start' });

  let stopped: Promise<void> | undefined;

  const runJob = async (job: FetchedJob, handler: JobHandler): Promise<void> => {
    try {
      await handler(job.data);
    } catch (error) {
      deps.logger.error({ err: error, job: job.name, jobId: job.id }, 'job failed; pg-boss retries it');
      await engine.fail(job.name, job.id, error instanceof Error ? error.message : String(error)).catch(() => {
        // The job stays active and expires into a retry: the same outcome, later.
      });
      return;
    }
    await engine.complete(job.name, job.id).catch((error: unknown) => {
      // Not completed: it expires and runs once more, which the handlers tolerate (at least once).
      deps.logger.warn({ err: error, job: job.name, jobId: job.id }, 'job done but not marked complete');
    });
  };

  const loop = async (name: JobName): Promise<void> => {
    const concurrency = Math.max(1, options.concurrency?.[name] ?? DEFAULT_CONCURRENCY[name]);
    const pollMs = Math.max(MIN_POLL_MS, options.pollMs?.[name] ?? DEFAULT_POLL_MS[name]);
    const handler = handlers[name];
    const running = new Set<Promise<void>>();
    while (!stopping.signal.aborted) {
      const room = concurrency - running.size;
      let fetched = 0;
      if (room > 0) {
        try {
          const jobs = await engine.fetch(name, room);
          fetched = jobs.length;
          for (const job of jobs) {
            const run: Promise<void> = runJob(job, handler).finally(() => running.delete(run));
            running.add(run);
          }
        } catch (error) {
          if (stopping.signal.aborted) break;
          deps.logger.warn({ err: error, queue: name }, 'job fetch failed; polling again');
        }
      }
      // Full: fetch again when a job ends. Jobs came back: more may be due, fetch again. Else poll after a while.
      if (running.size >= concurrency) await Promise.race(running);
      else if (fetched === 0) await sleep(pollMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
    await Promise.allSettled(running);
  };

  const loops = JOB_NAMES.map((name) => loop(name));
  deps.logger.info({ engine: engine.kind, schema: engine.schema }, 'job worker started');

  return {
    tasks: [],
    /** The periodic sweeps, once, now (tests and diagnostics; production runs them on cron). */
    runOnce: async () => {
      await sweepOutbox(deps);
      await handlers[JOBS.keepaliveSweep]({});
      await handlers[JOBS.healthSweep]({});
      await handlers[JOBS.bounceSweep]({});
      await handlers[JOBS.warmupSweep]({});
    },
    /**
     * Stops fetching, tells the running jobs to take no new work (a lane pass finishes its sends in flight and hands
     * the lane to a new job), and waits for them; the shutdown's grace period bounds the wait.
     */
    stop: () => {
      stopped ??= (async () => {
        stopping.abort();
        await Promise.allSettled(loops);
      })();
      return stopped;
    },
  };
}
