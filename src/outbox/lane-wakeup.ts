import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { JOBS, type JobEngine } from '../jobs/job-engine.js';

/** The lane's Retry-After and pacing pause (`outbox_pacing`; both null when the lane has no row). */
export interface LanePause {
  throttled_until: number | null;
  paced_until: number | null;
}

/**
 * Asks for a pass over an outbox lane (the job `outbox-mailbox`, at most one waiting per lane) at `at`, in `db`'s
 * transaction when it is one, so the job exists exactly when the change that makes the lane's work due committed
 * (a message accepted, released, handed back at shutdown). On the in-process engine (SQLite) this nudges the loop.
 * `jobs` is absent only where a caller built a narrow deps by hand (tests); the outbox sweep then finds the lane's
 * due work within a minute.
 *
 * With pg-boss the job is not asked for before the lane's Retry-After or pacing pause ends (nothing can be claimed
 * before then): a burst of messages for a mailbox waiting out its minute does not pull its pass forward once per
 * message. The pause read may be stale only towards earlier (pauses are set forward), which costs one early pass.
 * A caller that already read the lane's pause in its own statement (the accept path's INSERT … RETURNING) passes it,
 * saving the round trip. (An accept whose lane's job already waits early enough asks for nothing: message-store.ts
 * `insertBehindWaitingJob`.)
 */
export async function wakeLane(
  db: Kysely<Database>,
  deps: { readonly jobs?: JobEngine | undefined },
  lane: string,
  at: number,
  pause?: LanePause,
): Promise<void> {
  if (!deps.jobs) return;
  let startAfter = at;
  if (deps.jobs.kind === 'pg-boss') {
    const pacing =
      pause ??
      (await db
        .selectFrom('outbox_pacing')
        .select(['throttled_until', 'paced_until'])
        .where('lane', '=', lane)
        .executeTakeFirst());
    startAfter = Math.max(at, Number(pacing?.throttled_until ?? 0), Number(pacing?.paced_until ?? 0));
  }
  await deps.jobs.enqueue(db, JOBS.outboxMailbox, { lane }, { singletonKey: lane, startAfter });
}
