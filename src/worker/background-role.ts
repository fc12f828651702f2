import { startJobWorker } from '../jobs/job-worker.js';
import { PgBossJobEngine } from '../jobs/pg-boss-engine.js';
import type { ProcessRole } from '../ops/process-role.js';
import type { ServiceDeps } from '../services.js';
import { type BackgroundWork, startBackgroundWork } from './background-work.js';

/** Said at start by `mailbridge api` and `mailbridge worker` on SQLite. */
export const SQLITE_SPLIT_WARNING =
  'mailbridge api and mailbridge worker are for PostgreSQL (DATABASE_URL=postgres://…); the split is not supported ' +
  'on the embedded SQLite database: run one `mailbridge start` instead.';

/**
 * The background work a process of this role runs (issue 5 item 1): on PostgreSQL (pg-boss) the job worker for
 * `all` and `worker`, nothing for `api` (it only enqueues, in its requests' transactions); on SQLite the in-process
 * loop for `all`. On SQLite `worker` runs the in-process loop alone and `api` nothing, with a warning: one SQLite file
 * serves one process, and an `api` on it leaves its messages to whichever process runs the loop on its next tick.
 */
export async function startBackgroundForRole(
  deps: ServiceDeps,
  role: ProcessRole,
): Promise<BackgroundWork | undefined> {
  if (deps.jobs instanceof PgBossJobEngine) return role === 'api' ? undefined : startJobWorker(deps, deps.jobs);
  if (role !== 'all') deps.logger.warn({ role, database: deps.dialect }, SQLITE_SPLIT_WARNING);
  return role === 'api' ? undefined : startBackgroundWork(deps);
}
