import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { JOBS, type JobEngine } from '../jobs/job-engine.js';

/**
 * Asks for a pass over an outbox lane (the job `outbox-mailbox`, at most one waiting per lane) at `at`, in `db`'s
 * transaction when it is one, so the job exists exactly when the change that makes the lane's work due committed
 * (a message accepted, released, handed back at shutdown). On the in-process engine (SQLite) this nudges the loop.
 * `jobs` is absent only where a caller built a narrow deps by hand (tests); the outbox sweep then finds the lane's
 * due work within a minute.
 */
export async function wakeLane(
  db: Kysely<Database>,
  deps: { readonly jobs?: JobEngine | undefined },
  lane: string,
  at: number,
): Promise<void> {
  await deps.jobs?.enqueue(db, JOBS.outboxMailbox, { lane }, { singletonKey: lane, startAfter: at });
}
