import type { Expression, Kysely, RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * The job seam (issue 5 item 2): the one way domain code says "look at this now" (or at `startAfter`) to background
 * work, whichever engine runs it:
 * - `pg-boss` (PostgreSQL): a durable job in the same database, inserted in the caller's transaction, so the job
 *   exists exactly when the state change that caused it committed; any worker process runs it (pg-boss-engine.ts);
 * - `in-process` (the embedded SQLite default): no external service; the in-process loop's due-queries are the queue,
 *   and an enqueue only nudges the loop to look sooner (src/jobs/in-process-engine.ts).
 * A job is a hint, never the record: pg-boss delivers at least once and a hint may be lost with its process, so every
 * handler re-reads the database and the database's leases and fences decide (outbox claims, account schedule
 * leases, webhook delivery leases). A periodic sweep re-issues hints for whatever is due and has none.
 */
export interface JobEngine {
  readonly kind: 'pg-boss' | 'in-process';
  /**
   * Asks for `name` to run with `data` at `startAfter` (epoch ms; default now). With a `singletonKey`, at most one
   * such job waits per key: a second request merges into the waiting one, which then runs at the earlier of the two
   * times. Pass the caller's transaction as `db` when the job is caused by a change in it.
   */
  enqueue(db: Kysely<Database>, name: JobName, data: JobData, options?: EnqueueOptions): Promise<void>;
  /**
   * pg-boss only: an SQL condition, true when a job waits under `singletonKey` that starts no later than `at` (an
   * expression of epoch ms), that locks that job until the statement's transaction ends. A statement that writes only
   * when it holds (an autocommitted INSERT … SELECT … WHERE) makes its change visible as the lock goes, so no worker
   * fetches the job before the change is visible, and nothing needs asking for (issue 14: the accept in one statement).
   */
  waitingJobStartsBy?(name: JobName, singletonKey: string, at: Expression<number>): RawBuilder<boolean>;
  /** Releases what the engine holds (timers; never the database, which its owner closes). Idempotent. */
  stop(): Promise<void>;
}

export interface EnqueueOptions {
  /** Epoch ms (the service clock); default now. */
  startAfter?: number;
  singletonKey?: string;
}

/** What a job carries: ids only, never message content or secrets (job rows are kept for a while). */
export type JobData = Readonly<Record<string, string>>;

/**
 * The names of the built-in queues (stable: deployments hold jobs and schedules under them), for the code that
 * enqueues them. Each says "look at" something; what it does is declared by the feature that owns it (a
 * `BackgroundKind`, src/jobs/background-kind.ts), registered at composition.
 */
export const JOBS = {
  /** One mailbox (outbox lane): dispatch its due messages under the DB pacing, then wake again when work remains. */
  outboxMailbox: 'outbox-mailbox',
  /** Once a minute: held-message housekeeping, and hints for lanes and webhook deliveries that are due without one. */
  outboxSweep: 'outbox-sweep',
  /** One webhook delivery (its first attempt, or a retry at its `next_attempt_at`). */
  webhookDelivery: 'webhook-delivery',
  /** Once a minute (and fanned out while batches come back full): keep-alive refreshes that are due. */
  keepaliveSweep: 'keepalive-sweep',
  /** As `keepaliveSweep`, for health checks. */
  healthSweep: 'health-sweep',
  /** Once a minute (fanned out as `keepaliveSweep`): Inbox looks for non-delivery reports that are due. */
  bounceSweep: 'bounce-sweep',
  /** Hourly: accounts without a schedule get one; client secret expiry warnings. */
  hourlyMaintenance: 'hourly-maintenance',
} as const;

/** A queue's name: a built-in one of `JOBS`, or the name of any registered `BackgroundKind`. */
export type JobName = string;
