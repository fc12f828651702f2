import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { EmulatorClock } from '../../emulator/clock.js';
import type { DatabaseHandle } from '../../src/db/open-database.js';
import { JOBS } from '../../src/jobs/job-engine.js';
import { PgBossJobEngine, resolveJobsSchema } from '../../src/jobs/pg-boss-engine.js';
import { writeClockFile } from '../../src/platform/clock-file.js';
import { createLogger } from '../../src/platform/logger.js';
import { WARMUP_SWEEP } from '../../src/warmup/warmup-background.js';
import { AcceptanceWorld } from '../acceptance/support/acceptance-world.js';
import { ServiceProcess } from '../acceptance/support/service-process.js';
import { freePort } from './ports.js';
import type { SimulationRuntime } from './warmup-simulation.js';

/**
 * The warm-up simulation's service as deployed on PostgreSQL (docs/warmup.md §V): one `mailbridge api` and one
 * `mailbridge worker` process on one database, the emulator and its SMTP sink in this process, every mailbox
 * connected through the hosted connect flow and every figure read through the api process's HTTP API.
 *
 * Time. The emulator's clock is frozen and moves only when the simulation sets it; each set also writes the clock
 * file both processes follow (MAILBRIDGE_EMULATOR_CLOCK_FILE, src/platform/clock-file.ts), so every `now()` after the
 * set, in either process, returns the step's time. pg-boss, though, schedules on the database's real time
 * (`start_after` against `now()`, its crons every real minute), while the service gives it the simulation's times
 * (a lane's next pass at its `paced_until`, a webhook retry at its `next_attempt_at`), which lie days ahead of real
 * time. So at each step the driver does what the worker's crons would have sent, and translates pg-boss's times:
 * - it sends the due-rows sweeps the runners run (`warmup-sweep`, `outbox-sweep`, and `bounce-sweep` when the bounce
 *   reader is on) through pg-boss, as the crons do;
 * - a waiting job whose `start_after` has come on the simulation's clock is made due now (real time), as pg-boss
 *   would do at that instant; one still ahead stays waiting for a later step;
 * - the step ends when no job is active and none is due (the queues drained).
 * The worker's own crons still fire every real minute and run at whatever the simulation's time is then: one more
 * sweep of what is due, harmless by design (a job only says where to look, src/jobs/job-engine.ts). A job that fails
 * is retried by pg-boss, its delay made due at once like the rest (the worker logs the failure).
 */

/** How long one step may take to drain before the run stops with what is still waiting (a stuck job). */
const STEP_TIMEOUT_MS = 180_000;
/** The sweeps the driver sends each step (the in-process loop's phases). */
const SWEEPS = [WARMUP_SWEEP, JOBS.outboxSweep] as const;

/** A frozen emulator clock that publishes each move to the clock file the service processes follow. */
class PublishedClock extends EmulatorClock {
  constructor(
    readonly file: string,
    startAt: number,
  ) {
    super({ startAt, frozen: true });
    writeClockFile(file, startAt);
  }

  override set(epochMs: number): void {
    super.set(epochMs);
    writeClockFile(this.file, this.now());
  }

  override advance(seconds: number): void {
    super.advance(seconds);
    writeClockFile(this.file, this.now());
  }
}

export async function startProcessRuntime(webhook: { url: string; secret: string }): Promise<SimulationRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'mailbridge-warmup-processes-'));
  // Ten minutes behind real time while mailboxes connect: the id_tokens the emulator signs are then never "issued in
  // the future" for openid-client's real-time checks in the service (as test/outbox/outbox-test-kit.ts).
  const clock = new PublishedClock(join(dir, 'clock'), Date.now() - 10 * 60_000);
  const stops: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const world = await AcceptanceWorld.start({
      dialect: 'postgres',
      command: 'api',
      clock,
      adminKey: true,
      env: { MAILBRIDGE_EMULATOR_CLOCK_FILE: clock.file, LOG_LEVEL: 'warn' },
    });
    stops.push(() => world.close());
    const opsPort = await freePort();
    const worker = new ServiceProcess(
      { ...world.service.env, PORT: String(await freePort()), MAILBRIDGE_OPS_PORT: String(opsPort) },
      opsPort,
      'worker',
    );
    stops.push(() => worker.stop());
    await worker.start(90_000);
    const endpoint = await world.api('POST', '/v1/webhook-endpoints', webhook);
    if (endpoint.status !== 201)
      throw new Error(`webhook endpoint: ${endpoint.status} ${JSON.stringify(endpoint.body)}`);

    const reader = await world.openDatabaseForReading();
    stops.push(() => reader.close());
    const { id: organizationId } = await reader.db
      .selectFrom('organizations')
      .select('id')
      .where('name', '=', 'Acme Recruiting')
      .executeTakeFirstOrThrow();
    // A sender of jobs only (role `api`: no cron, no supervision); the queues are the worker's.
    const engine = await PgBossJobEngine.start({
      db: reader.db,
      logger: createLogger({ logLevel: 'warn' }),
      role: 'api',
      queues: [],
    });
    stops.push(() => engine.stop());
    const jobs = new JobQueues(reader, await resolveJobsSchema(reader.db), () => clock.now());

    const runJobs = async (sweeps: readonly string[]) => {
      for (const name of sweeps) await engine.enqueue(reader.db, name, {});
      await jobs.drain(() => `worker output:\n${worker.tail(20)}`);
    };
    return {
      ctx: world.ctx,
      clock,
      db: reader.db,
      organizationId,
      call: (method, path, body) => world.api(method, path, body),
      send: (path, body) => world.api('POST', path, body),
      connect: (email, options) => world.connect(email, options),
      drain: () => runJobs([JOBS.outboxSweep]),
      async runDue(lap, { bounceReader }) {
        await runJobs(bounceReader ? [...SWEEPS, JOBS.bounceSweep] : SWEEPS);
        lap('jobs');
      },
      // Webhook deliveries are jobs too (enqueued as events are recorded; retries found by the outbox sweep).
      deliverWebhooks: () => runJobs([JOBS.outboxSweep]),
      close: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** pg-boss's job table, read and re-timed from the driver (see the module comment). */
class JobQueues {
  constructor(
    private readonly reader: DatabaseHandle,
    private readonly schema: string,
    private readonly now: () => number,
  ) {}

  /** Until no job is active and none is due on the simulation's clock (jobs due by then are made due now). */
  async drain(describe: () => string): Promise<void> {
    const table = sql.id(this.schema, 'job');
    const until = new Date(this.now()).toISOString();
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      await sql`update ${table} set start_after = now()
        where state in ('created', 'retry') and start_after > now() and start_after <= ${until}::timestamptz`.execute(
        this.reader.db,
      );
      const { rows } = await sql<{ active: string; due: string }>`
        select count(*) filter (where state = 'active') as active,
               count(*) filter (where state in ('created', 'retry') and start_after <= now()) as due
        from ${table}`.execute(this.reader.db);
      const { active, due } = rows[0] ?? { active: '0', due: '0' };
      if (Number(active) === 0 && Number(due) === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`jobs did not drain in ${STEP_TIMEOUT_MS} ms: ${active} active, ${due} due\n${describe()}`);
      }
      await sleep(50);
    }
  }
}
