import { parseArgs } from 'node:util';
import pg from 'pg';
import { enableWarmup } from '../src/warmup/warmup-store.js';
import type { FleetEmulatorReady, FleetEmulatorStats, MintedUser } from './fixtures/fleet-emulator-process.js';
import type { BaselineMessage, BaselineResult } from './fixtures/warmup-baseline-process.js';
import type { WarmupStepResult, WarmupTotals } from './fixtures/warmup-day-process.js';
import { integerArg } from './support/args.js';
import { type BenchDatabase, counterDelta, createBenchDatabase, postgresCounters } from './support/bench-database.js';
import { benchServiceEnv, composeBenchService, newBenchCredentials, seedFleet } from './support/fleet.js';
import { cpuSeconds, Fixture, peakResidentBytes } from './support/processes.js';
import { fixed, loadLine, machineLine, markdownTable, Problems, runBenchmark } from './support/report.js';
import { totalStatements } from './support/statement-counter.js';

/**
 * The warm-up fleet (issue 12): `--mailboxes` warm-up mailboxes over one simulated day on PostgreSQL.
 *
 * Seeding: the emulator (its own process, bench/fixtures/fleet-emulator-process.ts with the `warmup` permission
 * profile) mints each user's tokens; the accounts are written as the connect flow writes them (bench/support/fleet.ts)
 * and warm-up is enabled through the store's `enableWarmup`, one by one, at the day's start. The mailboxes are spread
 * over 10 tenants (partners of other domains, docs/warmup.md §C) in one organisation (one pool).
 *
 * The day: a worker-like process (bench/fixtures/warmup-day-process.ts) runs, at the simulated minutes from Monday
 * 00:01 UTC where something falls due (it answers each step with the next due instant: the earliest warm-up
 * `next_run_at` or queued outbox attempt; the clocks jump there in whole minutes, as the sweep's cron would find it),
 * the `warmup-sweep` job's handler (batches of due mailboxes under leases until one comes back short) and the
 * outbox's rounds; the emulator's clock and the service's move together. It is day one of every mailbox's ramp
 * (docs/warmup.md §A: Microsoft 365 starts at 4 a day), so the day also holds each mailbox's one-off work (time zone,
 * Warm-up folder, first delta links). Counted per mailbox-day: Graph requests (the emulator's request log, by route),
 * token requests (apart), the worker's SQL statements (a Kysely plugin on its connection: pg_stat_statements is not
 * loaded on the provisioned server) and PostgreSQL's transactions, the worker's CPU (process.cpuUsage) and its
 * database backends' CPU (/proc/<pid>/stat), and the worker's peak RSS.
 *
 * Baseline, same run, same emulator and database: the bare Graph calls the specification needs for the mail the
 * engine sent that day, in a plain loop (bench/fixtures/warmup-baseline-process.ts) by another N mailboxes, with one
 * INSERT per Graph write as the least a reporting service records.
 *
 *   node --import tsx bench/warmup-fleet.ts [--mailboxes 500]
 *   npm run bench -- warmup-fleet --mailboxes 10000
 */

const { values: args } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '500' },
  },
});

const MAILBOXES = integerArg('mailboxes', args.mailboxes);
const MINUTE = 60_000;
const DAY = 1_440 * MINUTE;
const MB = 1e6;

const problems = new Problems();

/**
 * The CPU of this run's database backends (other than the asking one and `exclude`), read from /proc at every step:
 * a backend that the worker's pool closes in the day (pg's idle timeout) keeps what it had used at the last reading,
 * so the sum loses at most one step of a closed backend's work.
 */
class BackendCpu {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private constructor(
    private readonly client: pg.Client,
    private readonly exclude: Set<number>,
  ) {}

  static async open(database: BenchDatabase, exclude: number[]): Promise<BackendCpu> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    return new BackendCpu(client, new Set(exclude));
  }

  /** Reads every backend's CPU; the first reading of a backend present at `start` is its starting point. */
  async read(start = false): Promise<void> {
    const rows = await this.client.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    for (const { pid } of rows.rows) {
      if (this.exclude.has(pid)) continue;
      try {
        const seconds = cpuSeconds(pid);
        if (!this.first.has(pid)) this.first.set(pid, start ? seconds : 0);
        this.last.set(pid, seconds);
      } catch {
        // Gone between the query and the read.
      }
    }
  }

  /** CPU seconds used since the starting reading, and how many backends took part. */
  total(): { seconds: number; backends: number } {
    let seconds = 0;
    for (const [pid, last] of this.last) seconds += last - (this.first.get(pid) ?? 0);
    return { seconds, backends: this.last.size };
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** Monday 00:01 UTC after `now`: a whole working day in every mailbox's zone (the fleet's mailboxes are in UTC). */
function nextMonday(now: number): number {
  const date = new Date(now + DAY);
  const toMonday = (8 - date.getUTCDay()) % 7;
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + toMonday, 0, 1);
}

const sum = (record: Record<string, number>) => Object.values(record).reduce((total, value) => total + value, 0);

async function main(): Promise<void> {
  console.log('Warm-up fleet benchmark');
  console.log(machineLine());
  console.log(loadLine('start'));
  console.log(
    `run: ${MAILBOXES} warm-up mailboxes (10 tenants, one pool) over one simulated day (day 1 of the ramp) on PostgreSQL, the warm-up sweep and the outbox at each simulated minute where work falls due; baseline: the bare Graph calls for the same mail in a plain loop; loopback`,
  );
  const credentials = newBenchCredentials();
  const emulator = await Fixture.start<FleetEmulatorReady>('fleet-emulator-process.ts', {
    BENCH_USERS: String(2 * MAILBOXES),
    BENCH_PROFILE: 'warmup',
    BENCH_CLIENT_ID: credentials.clientId,
    BENCH_CLIENT_SECRET: credentials.clientSecret,
  });
  const database = await createBenchDatabase('postgres', 'warmup');
  const env = benchServiceEnv({ emulatorUrl: emulator.ready.url, ...credentials, databaseUrl: database.url });
  const start = nextMonday(Date.now());
  const offset = start - Date.now();
  const seeder = await composeBenchService(
    { ...env, LOG_LEVEL: 'silent' },
    { clock: { now: () => Date.now() + offset } },
  );
  try {
    await emulator.request('setClock', { epochMs: Date.now() + offset });
    const fleet = await seedFleet(seeder.deps, emulator, { count: MAILBOXES, profile: 'warmup' });
    const enableStarted = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < fleet.accountIds.length) {
        const accountId = fleet.accountIds[next++]!;
        await enableWarmup(seeder.deps, fleet.organizationId, accountId, {});
      }
    };
    await Promise.all(Array.from({ length: 4 }, lane));
    console.log(
      `  seeded ${MAILBOXES} accounts in ${fixed(fleet.seedSeconds, 1)} s, warm-up enabled (enableWarmup) in ${fixed((performance.now() - enableStarted) / 1000, 1)} s`,
    );

    // The day.
    const worker = await Fixture.start<{ pid: number; observerBackendPid: number }>('warmup-day-process.ts', {
      ...env,
      LOG_LEVEL: 'error',
    });
    let totals: WarmupTotals;
    let emulatorStats: FleetEmulatorStats;
    let routes: Record<string, number>;
    let backends: { seconds: number; backends: number };
    let wallSeconds: number;
    let slowestStepMs = 0;
    let steps = 0;
    let peakRss: number;
    const before = await postgresCounters(database);
    try {
      await worker.request<WarmupTotals>('totals');
      await emulator.request('clearLog');
      // The worker's observer (runs, next due instant, ANALYZE) is the benchmark's, not the engine's.
      const backendCpu = await BackendCpu.open(database, [worker.ready.observerBackendPid]);
      await backendCpu.read(true);
      const started = performance.now();
      // Whole minutes, as the sweep's cron runs, but only those where something falls due: the worker answers
      // each step with the next due instant and the clocks jump there.
      let at = start;
      let reported = 0;
      while (at < start + DAY) {
        await emulator.request('setClock', { epochMs: at });
        const step = await worker.request<WarmupStepResult>('step', { at });
        await backendCpu.read();
        steps++;
        slowestStepMs = Math.max(slowestStepMs, step.ms);
        const hours = Math.floor((at - start) / (4 * 60 * MINUTE)) * 4;
        if (hours > reported) {
          reported = hours;
          console.log(`  ${hours} h simulated, ${steps} steps, ${fixed((performance.now() - started) / 1000, 0)} s`);
        }
        const due = step.nextDue ?? start + DAY;
        at = Math.max(at + MINUTE, start + Math.ceil((due - start) / MINUTE) * MINUTE);
      }
      wallSeconds = (performance.now() - started) / 1000;
      totals = await worker.request<WarmupTotals>('totals');
      await backendCpu.read();
      backends = backendCpu.total();
      await backendCpu.close();
      peakRss = peakResidentBytes(worker.ready.pid);
      emulatorStats = await emulator.request<FleetEmulatorStats>('stats');
      routes = await emulator.request<Record<string, number>>('routes');
    } finally {
      await worker.stop();
    }
    const db = counterDelta(before, await postgresCounters(database));

    // What the engine did with the day (its own rows).
    const rows = await seeder.deps.db
      .selectFrom('warmup_messages')
      .select(['sender_account_id', 'recipient_account_id', 'id', 'in_reply_to_id', 'turn', 'status', 'landed_in'])
      .select(['sent_at', 'read_at', 'filed_at', 'rescued_at', 'replied_at'])
      .execute();
    const sent = rows.filter((row) => row.sent_at !== null).sort((a, b) => Number(a.sent_at) - Number(b.sent_at));
    const count = (test: (row: (typeof rows)[number]) => boolean) => rows.filter(test).length;
    const paused = await seeder.deps.db
      .selectFrom('warmup_accounts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '!=', 'active')
      .executeTakeFirstOrThrow();
    console.log(
      `  day: ${rows.length} warm-up messages planned, ${sent.length} sent (${count((r) => r.sent_at !== null && r.turn > 0)} replies), ${count((r) => r.landed_in !== null)} found by the recipient (${count((r) => r.landed_in === 'junkemail')} in Junk), ${count((r) => r.read_at !== null)} read, ${count((r) => r.filed_at !== null)} filed; ${Number(paused.n)} mailboxes not active; ${fixed(wallSeconds, 0)} s wall in ${steps} steps of the 1,440 minutes, slowest ${fixed(slowestStepMs / 1000, 1)} s`,
    );
    if (sent.length === 0) problems.add('the engine sent nothing in the day');

    // The baseline: the same mail between another N mailboxes, in a plain loop.
    const indexOf = new Map(fleet.accountIds.map((id, index) => [id, index]));
    const position = new Map(sent.map((row, index) => [row.id, index]));
    const messages: BaselineMessage[] = sent.map((row) => {
      const parent = row.in_reply_to_id === null ? undefined : position.get(row.in_reply_to_id);
      return {
        sender: indexOf.get(row.sender_account_id)!,
        recipient: indexOf.get(row.recipient_account_id)!,
        ...(parent === undefined ? {} : { parent }),
      };
    });
    const minted: MintedUser[] = [];
    for (let from = MAILBOXES; from < 2 * MAILBOXES; from += 5_000) {
      minted.push(
        ...(await emulator.request<MintedUser[]>('mint', { from, count: Math.min(5_000, 2 * MAILBOXES - from) })),
      );
    }
    await emulator.request('clearLog');
    const baselineProcess = await Fixture.start<{ pid: number }>('warmup-baseline-process.ts');
    let baseline: BaselineResult;
    let baselineRoutes: Record<string, number>;
    let baselineRss: number;
    const baselineBefore = await postgresCounters(database);
    try {
      baseline = await baselineProcess.request<BaselineResult>('run', {
        url: emulator.ready.url,
        databaseUrl: database.url,
        mailboxes: minted.map((user) => ({ email: user.email, accessToken: user.accessToken })),
        messages,
      });
      baselineRss = peakResidentBytes(baselineProcess.ready.pid);
      baselineRoutes = await emulator.request<Record<string, number>>('routes');
    } finally {
      await baselineProcess.stop();
    }
    const baselineDb = counterDelta(baselineBefore, await postgresCounters(database));
    if (baseline.notFound > 0) problems.add(`the baseline's recipients did not find ${baseline.notFound} messages`);

    const graphOf = (byRoute: Record<string, number>) =>
      Object.entries(byRoute).filter(([route]) => route.includes('/v1.0/'));
    const engineGraph = graphOf(routes).reduce((total, [, n]) => total + n, 0);
    const per = (value: number) => value / MAILBOXES;
    const ratio = (a: number, b: number) => (b > 0 ? `${fixed(a / b, 1)}×` : '–');
    console.log('');
    console.log(
      `Per mailbox-day (${MAILBOXES} mailboxes, ${sent.length} warm-up messages sent, ${fixed(per(sent.length), 2)} per mailbox):`,
    );
    const rowsOut: string[][] = [
      [
        'Graph requests',
        fixed(per(engineGraph), 1),
        fixed(per(baseline.graphRequests), 1),
        ratio(engineGraph, baseline.graphRequests),
      ],
      ['token requests (login)', fixed(per(sum(emulatorStats.tokenRequests)), 1), '0.0', '–'],
      [
        'SQL statements (worker)',
        fixed(per(totalStatements(totals.statements)), 1),
        fixed(per(baseline.statements), 1),
        ratio(totalStatements(totals.statements), baseline.statements),
      ],
      [
        'PostgreSQL transactions',
        fixed(per(db.transactions), 1),
        fixed(per(baselineDb.transactions), 1),
        ratio(db.transactions, baselineDb.transactions),
      ],
      [
        'worker CPU, ms',
        fixed(per(totals.cpuSeconds) * 1000, 2),
        fixed(per(baseline.cpuSeconds) * 1000, 2),
        ratio(totals.cpuSeconds, baseline.cpuSeconds),
      ],
      [
        'PostgreSQL backends CPU, ms',
        fixed(per(backends.seconds) * 1000, 2),
        fixed(per(baseline.backendCpuSeconds) * 1000, 2),
        ratio(backends.seconds, baseline.backendCpuSeconds),
      ],
    ];
    console.log(markdownTable(['per mailbox-day', 'engine', 'bare loop', 'ratio'], rowsOut));
    console.log('');
    console.log(
      `peak RSS: worker ${fixed(peakRss / MB, 0)} MB, bare loop ${fixed(baselineRss / MB, 0)} MB (whole process, ${MAILBOXES} mailboxes)`,
    );
    console.log(`database backends of the worker in the day: ${backends.backends}`);
    console.log(`SQL statements by kind (worker, whole day): ${JSON.stringify(totals.statements)}`);
    const runs = sum(totals.runsByNextGap);
    console.log(
      `mailbox runs: ${fixed(per(runs), 1)} per mailbox-day, ${fixed(totalStatements(totals.statements) / Math.max(1, runs), 1)} statements per run; by the wait each run chose: ${JSON.stringify(totals.runsByNextGap)}`,
    );
    console.log('');
    console.log('Graph requests by route, per mailbox-day:');
    const allRoutes = [...new Set([...graphOf(routes), ...graphOf(baselineRoutes)].map(([route]) => route))].sort();
    console.log(
      markdownTable(
        ['route', 'engine', 'bare loop'],
        allRoutes.map((route) => [route, fixed(per(routes[route] ?? 0), 2), fixed(per(baselineRoutes[route] ?? 0), 2)]),
      ),
    );
    console.log('');
    console.log(
      `sequential scans in the day: ${db.seqScans} (${db.seqRowsRead} rows); by table: ${JSON.stringify(
        Object.fromEntries(
          Object.entries(db.tables)
            .filter(([, entry]) => entry.seqScans > 0)
            .map(([name, entry]) => [name, entry.seqScans]),
        ),
      )}`,
    );
  } finally {
    await seeder.close();
    await emulator.stop();
    await database.drop();
  }
  console.log(loadLine('end'));
  problems.print();
}

await runBenchmark(main);
