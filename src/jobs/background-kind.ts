import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import type { RandomSource } from '../tokens/lifecycle-policy.js';
import type { JobData } from './job-engine.js';

/**
 * One kind of background work, declared once by the feature that owns it (in its own folder) and registered at
 * composition (src/compose.ts). Both runners read the same declaration: the pg-boss job worker on PostgreSQL
 * (src/jobs/job-worker.ts: a queue named `name`, `concurrency` jobs at once, polled every `pollMs`, cron for a
 * `schedule` or `due-rows` trigger) and the embedded loop on SQLite (src/worker/background-work.ts: the kind's
 * `loopTasks`, run every tick and nudged by an enqueue of `name`). See ARCHITECTURE.md.
 *
 * A job only says where to look (issue 5 item 2): every handler reads what is due from the database and works under
 * its leases and fences, so a job that runs twice, late, or alongside another of the same key does no harm (pg-boss
 * is at least once). A handler that throws has its job retried by pg-boss (`queue`).
 */
export interface BackgroundKind {
  /** The queue's name: stable (running deployments hold jobs and schedules under it). */
  readonly name: string;
  readonly trigger: BackgroundTrigger;
  /** Jobs of this queue running at once in one worker process. */
  readonly concurrency: number;
  /** Poll interval of the empty queue (ms; pg-boss's floor of 0.5 s applies). */
  readonly pollMs: number;
  /** pg-boss's queue settings: how long a job may stay active before it is taken for dead, how failures retry. */
  readonly queue: BackgroundQueueSettings;
  /** One job of this queue (pg-boss). */
  handle(context: JobContext, data: JobData): Promise<void>;
  /**
   * What the embedded loop runs for this kind, built once per loop (a task may keep state between ticks). An enqueue
   * of `name` on the in-process engine nudges these tasks. Omitted: the kind runs on pg-boss only.
   */
  loopTasks?(context: LoopContext): readonly LoopTask[];
}

/**
 * What makes a kind run on pg-boss:
 * - `schedule`: periodic work on a cron (UTC; pg-boss sends each due schedule once across all processes);
 * - `due-rows`: a sweep of what is due in the database, on a cron; `runOnce()` of the worker runs every such sweep;
 * - `enqueue`: asked for by domain code through `deps.jobs.enqueue(db, name, …)`.
 * `atStart`: one job at worker start too, so a worker starting after an outage finds what is due at once.
 */
export type BackgroundTrigger =
  | { readonly kind: 'schedule' | 'due-rows'; readonly cron: string; readonly atStart?: boolean }
  | { readonly kind: 'enqueue' };

/** pg-boss's per-queue settings (a subset of its `Queue`): expiry of a dead worker's job, retries. */
export interface BackgroundQueueSettings {
  readonly policy: 'short';
  readonly expireInSeconds: number;
  readonly retryLimit: number;
  readonly retryDelay: number;
  readonly retryBackoff?: boolean;
}

/** What a pg-boss job's handler is given. */
export interface JobContext {
  readonly deps: ServiceDeps;
  /** The process's token provider (one, so its single-flight covers every handler). */
  readonly provider: AccessTokenProvider;
  /** How long one lane pass may claim before handing the lane to a new job. */
  readonly laneBudgetMs: number;
  /** How long one sweep job may run before handing the rest to a new job. */
  readonly sweepBudgetMs: number;
  /** Aborted when the process shuts down: handlers stop taking new work and hand what is left to new jobs. */
  readonly signal?: AbortSignal;
}

/** What the embedded loop's tasks are built with. */
export interface LoopContext {
  readonly deps: ServiceDeps;
  readonly provider: AccessTokenProvider;
  /** Jitter of the schedules the tasks write (tests pin it). */
  readonly random: RandomSource;
  /** How often accounts without a schedule are given one. */
  readonly scheduleRepairIntervalMs: number;
}

/**
 * One named piece of the loop's work, run once per tick, in `tickOrder` (ascending) among all registered tasks. It
 * should do a bounded batch and return; `'more'` when it stopped with work still waiting (the loop then runs it again
 * right after the tick, as if nudged, instead of leaving a backlog for the next interval).
 */
export interface LoopTask {
  readonly name: string;
  readonly tickOrder: number;
  // biome-ignore lint/suspicious/noConfusingVoidType: a task written `async () => {}` returns Promise<void>.
  run(): Promise<void | 'more'>;
}
