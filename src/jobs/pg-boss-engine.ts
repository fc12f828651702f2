import { CompiledQuery, type Expression, type Kysely, type RawBuilder, sql } from 'kysely';
import PgBoss from 'pg-boss';
import type { Database } from '../db/schema.js';
import { TurnBatches } from '../db/turn-batch.js';
import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';
import type { ProcessRole } from '../ops/process-role.js';
import type { Logger } from '../platform/logger.js';
import type { BackgroundKind } from './background-kind.js';
import type { EnqueueOptions, JobData, JobEngine, JobName } from './job-engine.js';

/** The job engine's codes (src/errors/error-table.ts). */
export const JOB_ERRORS = {
  JOBS_ENQUEUE_FAILED: {
    status: 503,
    description: 'A job could neither be inserted nor merged into the waiting one of its key (three attempts).',
  },
} as const satisfies ErrorTable;

/**
 * The job engine on PostgreSQL: pg-boss 10 in the same database (docs/engineering.md §J), so a job is
 * a row written in the transaction of the change that causes it (`send(…, { db })` runs through the caller's Kysely
 * transaction) and any number of worker processes share the queues (`FOR UPDATE SKIP LOCKED` fetches).
 *
 * Every queue uses pg-boss's `short` policy: at most one job per singleton key waits in `created`, while any number
 * may be `active`. So a new hint for a mailbox is never refused because a job for it is running (no lost wake-up), and
 * a burst of 1,000 accepted messages for one mailbox is one waiting job, not 1,000. A request that meets a waiting
 * job merges into it, moving it earlier if it asked for earlier; the merge updates that job's row, so until the
 * caller commits the row is locked and no worker can fetch it (their fetch skips locked rows) and then miss what the
 * caller is committing. Not `stately`/`singleton`: those refuse to activate a second job of a key while one is
 * active, and pg-boss then fails the whole fetch (docs/engineering.md §J).
 *
 * pg-boss's own statements (install, fetch, complete, maintenance, cron) also go through the service's pool: no
 * second pool per process. Its tables live in the `pgboss` schema, or, when the service's database user works in a
 * schema of its own (a `search_path` other than `public`, as the tests' one schema per run), in that schema: every
 * row of one mailbridge stays with it, and separate installations on one server never share a queue.
 */

export interface PgBossEngineOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** `api` only enqueues: no expiry supervision and no cron in that process. */
  role: ProcessRole;
  /** Default: `resolveJobsSchema(db)`. */
  schema?: string;
  /**
   * The queues to create, with their settings (the registered background work, `BackgroundRegistry.kinds`): how long
   * a job may stay active before pg-boss takes it for dead (its worker was killed) and retries it, and how failures
   * retry. Expiry is a backstop only: the database leases under the handlers end much sooner.
   */
  queues: readonly Pick<BackgroundKind, 'name' | 'queue'>[];
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

/** `pgboss`, or the service's own schema when its search path names one (see the module comment). */
export async function resolveJobsSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const current = rows[0]?.schema ?? null;
  if (current === null || current === 'public' || !SCHEMA_NAME.test(current)) return 'pgboss';
  return current;
}

/**
 * pg-boss's database seam on a Kysely executor. Parameterised statements (everything but installation and
 * maintenance) run as they are, in the caller's transaction when given one. The multi-statement scripts carry their
 * own BEGIN/COMMIT: they run on one pooled connection, and a script that fails is rolled back there, so the
 * connection never goes back to the pool inside an aborted transaction.
 */
export function pgBossExecutor(db: Kysely<Database>): PgBoss.Db {
  return {
    executeSql: async (text: string, values?: unknown[]) => {
      if ((values && values.length > 0) || db.isTransaction) {
        const result = await db.executeQuery(CompiledQuery.raw(text, values ?? []));
        return { rows: [...result.rows] };
      }
      return db.connection().execute(async (connection) => {
        try {
          const result = await connection.executeQuery(CompiledQuery.raw(text, []));
          return { rows: [...result.rows] };
        } catch (error) {
          await connection.executeQuery(CompiledQuery.raw('rollback', [])).catch(() => {
            // Nothing was open (the script failed before its BEGIN): the original error is the one to report.
          });
          throw error;
        }
      });
    },
  };
}

export interface FetchedJob {
  id: string;
  name: JobName;
  data: JobData;
}

export class PgBossJobEngine implements JobEngine {
  readonly kind = 'pg-boss';
  readonly schema: string;
  readonly #logger: Logger;
  readonly #boss: PgBoss;
  readonly #db: Kysely<Database>;
  readonly #completions = new TurnBatches<{ name: JobName; id: string }, void>(async (_db, jobs) => {
    await this.#boss.complete(
      jobs[0]!.name,
      jobs.map((job) => job.id),
    );
    return jobs.map(() => undefined);
  });
  #stopping: Promise<void> | undefined;

  private constructor(options: PgBossEngineOptions & { schema: string }) {
    this.#logger = options.logger;
    this.#db = options.db;
    this.schema = options.schema;
    const works = options.role !== 'api';
    this.#boss = new PgBoss({
      db: pgBossExecutor(options.db),
      schema: options.schema,
      migrate: true,
      // Expiry of jobs whose worker died, archiving and cron: only where jobs are worked.
      supervise: works,
      schedule: works,
      maintenanceIntervalSeconds: 60,
      // Completed jobs are of no further use: archived after an hour, deleted from the archive after a day.
      archiveCompletedAfterSeconds: 3600,
      deleteAfterDays: 1,
    });
    this.#boss.on('error', (error) => {
      // A failed poll or maintenance run: pg-boss tries again on its next interval.
      this.#logger.warn({ err: error }, 'job engine: pg-boss reported an error');
    });
  }

  /**
   * Installs (or migrates) pg-boss's tables and creates the queues. Processes starting at once take turns: pg-boss
   * locks its installation, but not queue creation, and two processes creating queues (each attaches a partition
   * to the job table) at the same moment deadlock (seen with start + 2 api + worker on a fresh schema).
   */
  static async start(options: PgBossEngineOptions): Promise<PgBossJobEngine> {
    const schema = options.schema ?? (await resolveJobsSchema(options.db));
    const engine = new PgBossJobEngine({ ...options, schema });
    await options.db.connection().execute(async (connection) => {
      // A session lock on one connection while pg-boss works through others of the pool: held across awaits.
      await sql`select pg_advisory_lock(hashtext(${`mailbridge-jobs:${schema}`}))`.execute(connection);
      try {
        await engine.#boss.start();
        for (const { name, queue } of options.queues) {
          // pg-boss requires a queue before its first send; createQueue is idempotent, updateQueue applies changed
          // settings to a queue an older version created.
          await engine.#boss.createQueue(name, { name, ...queue });
          await engine.#boss.updateQueue(name, { name, ...queue });
        }
      } finally {
        await sql`select pg_advisory_unlock(hashtext(${`mailbridge-jobs:${schema}`}))`.execute(connection);
      }
    });
    return engine;
  }

  async enqueue(db: Kysely<Database>, name: JobName, data: JobData, options: EnqueueOptions = {}): Promise<void> {
    const sendOptions: PgBoss.SendOptions = { db: pgBossExecutor(db) };
    if (options.startAfter !== undefined) sendOptions.startAfter = new Date(options.startAfter);
    if (options.singletonKey === undefined) {
      await this.#boss.send(name, data, sendOptions);
      return;
    }
    sendOptions.singletonKey = options.singletonKey;
    const startAfter = new Date(options.startAfter ?? Date.now()).toISOString();
    // A job of this key waits already: merge into it (see the module comment). If it was fetched between the two
    // statements, none waits any more and the next send inserts one. The merge's WHERE is the predicate and key of
    // pg-boss's unique index of waiting `short` jobs (job_i1: `(name, COALESCE(singleton_key, '')) WHERE state =
    // 'created' AND policy = 'short'`), so it is one index probe; written as `singleton_key = $key` it matched no
    // index and read every job of the queue (issue 14: ~4 million index entries per 5,000 messages).
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.#boss.send(name, data, sendOptions)) !== null) return;
      const merged = await sql<{ id: string }>`
        update ${sql.id(this.schema, 'job')} set start_after = least(start_after, ${startAfter}::timestamptz)
        where ${this.#waitingUnder(name, options.singletonKey)}
        returning id`.execute(db);
      if (merged.rows.length > 0) return;
    }
    throw new AppError('JOBS_ENQUEUE_FAILED', `could not enqueue ${name} for ${options.singletonKey.slice(0, 64)}`);
  }

  /**
   * Whether a job waits under the key that starts no later than `at` (epoch ms), locked `FOR SHARE` until the
   * caller's transaction ends when it does (the lock clause of a sub-select locks the rows it returns): pg-boss's fetch
   * takes jobs `FOR UPDATE SKIP LOCKED`, so it passes over this one until then, as it passes over a job the merge above
   * updated. `at` in whole ms converts exactly (to_timestamp rounds to microseconds); a job starting within a
   * millisecond after `at` does not count, which costs only the caller's slower path.
   */
  waitingJobStartsBy(name: JobName, singletonKey: string, at: Expression<number>): RawBuilder<boolean> {
    return sql<boolean>`exists (select from ${sql.id(this.schema, 'job')}
      where ${this.#waitingUnder(name, singletonKey)} and start_after <= to_timestamp(${at} / 1000.0) for share)`;
  }

  /** The key and predicate of pg-boss's unique index of waiting `short` jobs (job_i1): one index probe. */
  #waitingUnder(name: JobName, singletonKey: string): RawBuilder<unknown> {
    return sql`name = ${name} and coalesce(singleton_key, '') = ${singletonKey}
      and state = 'created' and policy = 'short'`;
  }

  /** Up to `batchSize` jobs of the queue that are due, now `active` (a worker's fetch loop; src/jobs/job-worker.ts). */
  async fetch(name: JobName, batchSize: number): Promise<FetchedJob[]> {
    const jobs = await this.#boss.fetch<JobData>(name, { batchSize });
    return jobs.map((job) => ({ id: job.id, name, data: job.data ?? {} }));
  }

  /** Jobs of a queue completed in the same turn share one pg-boss statement (src/db/turn-batch.ts, issue 14). */
  async complete(name: JobName, id: string): Promise<void> {
    await this.#completions.add(this.#db, name, { name, id });
  }

  /** Marks the job failed: pg-boss retries it after the queue's delay, until its retry limit. */
  async fail(name: JobName, id: string, reason: string): Promise<void> {
    await this.#boss.fail(name, id, { reason });
  }

  /** A cron schedule (pg-boss sends each due one once across all processes). Idempotent. */
  async schedule(name: JobName, cron: string): Promise<void> {
    await this.#boss.schedule(name, cron, {}, { tz: 'UTC' });
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#boss.stop({ graceful: false, close: false }).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'job engine: pg-boss did not stop cleanly');
    });
    return this.#stopping;
  }
}
