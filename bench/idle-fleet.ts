import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { FleetEmulatorReady, FleetEmulatorStats, MintedUser } from './fixtures/fleet-emulator-process.js';
import type { IdleStepResult, IdleTotals } from './fixtures/idle-hour-process.js';
import { integerArg } from './support/args.js';
import {
  type BenchDatabase,
  counterDelta,
  createBenchDatabase,
  type PostgresCounters,
  postgresCounters,
} from './support/bench-database.js';
import { runClosedLoop } from './support/closed-loop.js';
import { printProfileSummary, profilesIn, summarizeCpuProfile } from './support/cpu-profile.js';
import {
  benchServiceEnv,
  composeBenchService,
  newBenchCredentials,
  type SeededFleet,
  seedFleet,
} from './support/fleet.js';
import {
  cpuSeconds,
  Fixture,
  type MailbridgeProcess,
  type ProcessMemory,
  peakResidentBytes,
  probeProcess,
  startMailbridge,
  stopMailbridge,
} from './support/processes.js';
import { fixed, loadLine, machineLine, markdownTable, Problems, runBenchmark } from './support/report.js';
import { totalStatements } from './support/statement-counter.js';

/**
 * The idle fleet (issue 5 item 5): `--accounts` connected accounts (100,000) on PostgreSQL, nobody sending.
 *
 * 1. Memory: a real `mailbridge api` and a real `mailbridge worker` (separate processes) run for `--window-seconds`
 *    of real time after the API answered a little of everything (account list pages and lookups, 100 messages,
 *    message list, /metrics); then each is asked for its memory after two full GCs (bench/fixtures/process-probe.ts,
 *    SIGUSR2) and /proc gives its peak. Target: under 300 MB (10⁶ bytes) per process. The same window's CPU seconds
 *    and PostgreSQL counters (this run's own database: pg_stat_database, pg_stat_user_tables), scaled to an hour,
 *    are the real worker's cost including pg-boss's polling and cron.
 * 2. One hour of keep-alive and health scheduling on the emulator clock: pg-boss's cron follows the database
 *    server's clock, so a worker-like process (bench/fixtures/idle-hour-process.ts) runs the cron's job handlers — the
 *    outbox, keep-alive and health sweeps every minute, the hourly maintenance once — 60 times, the service's clock
 *    and the emulator's both advanced a minute before each step. Counted: CPU seconds of that process, its SQL
 *    statements, PostgreSQL's transactions and rows read by sequential scans, and what reached the emulator.
 * Baseline, same run, same processes and steps: an empty fleet (0 accounts). pg_stat_statements is not loaded on the
 * provisioned server (it needs shared_preload_libraries), hence the per-database counters.
 *
 * The fleet is in steady state: each account's last health check (which refreshed its token) was within the
 * last 5¾ hours and its next is due uniformly over the next 5¾ hours (the check interval, 6 h minus up to 30 min
 * of jitter), so about accounts ÷ 5.75 checks fall due in an hour and none is overdue at the start; keep-alives
 * (weekly, pushed back by every refresh) are not due. Accounts are seeded straight into the database with tokens
 * minted by the emulator.
 *
 *   node --import tsx bench/idle-fleet.ts [--accounts 100000] [--window-seconds 120] [--profile]
 *   npm run bench -- idle-fleet
 */

const { values: args } = parseArgs({
  options: {
    accounts: { type: 'string', default: '100000' },
    'window-seconds': { type: 'string', default: '120' },
    profile: { type: 'boolean', default: false },
  },
});

const ACCOUNTS = integerArg('accounts', args.accounts);
const WINDOW_SECONDS = integerArg('window-seconds', args['window-seconds']);
const MB = 1e6;
/** The health check's interval minus the mean of its jitter (src/tokens/lifecycle-policy.ts: 6 h − up to 30 min). */
const CHECK_INTERVAL_MS = 5.75 * 3_600_000;
const METRICS_TOKEN = 'bench-metrics-token-0123456789abcdef';
const HOUR_STEPS = 60;

const problems = new Problems();

interface ProcessPhase {
  api: ProcessMemory & { peak: number; cpuPerHour: number };
  worker: ProcessMemory & { peak: number; cpuPerHour: number };
  db: PostgresCounters;
  emulator: FleetEmulatorStats;
}

interface HourPhase {
  wallSeconds: number;
  totals: IdleTotals;
  db: PostgresCounters;
  emulator: FleetEmulatorStats;
  slowestStepMs: Partial<Record<string, number>>;
  dueInHour: number;
  dueAtEnd: number;
}

/** A little of everything the API serves, so that its code and caches are warm when its memory is read. */
async function warmApi(api: MailbridgeProcess, fleet: SeededFleet): Promise<void> {
  const auth = { authorization: `Bearer ${fleet.apiKey}` };
  let after: string | null = null;
  for (let page = 0; page < 30; page++) {
    const response: Response = await fetch(
      `${api.origin}/v1/accounts?limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`,
      { headers: auth },
    );
    const body = (await response.json()) as { nextCursor: string | null };
    if (!response.ok) problems.add(`GET /v1/accounts answered ${response.status}`);
    after = body.nextCursor;
    if (!after) break;
  }
  const ids = fleet.accountIds;
  if (ids.length > 0) {
    const lookups = await runClosedLoop({
      origin: api.origin!,
      count: 300,
      concurrency: 10,
      timeoutMs: 60_000,
      build: (index) => ({ method: 'GET', path: `/v1/accounts/${ids[(index * 7919) % ids.length]}`, headers: auth }),
    });
    if ((lookups.statuses.get(200) ?? 0) !== 300) problems.add('account lookups did not all answer 200');
    const body = Buffer.from(JSON.stringify({ to: 'partner@partner.example', subject: 'Hello', text: 'Hello' }));
    const posts = await runClosedLoop({
      origin: api.origin!,
      count: 100,
      concurrency: 10,
      timeoutMs: 60_000,
      build: (index) => ({
        method: 'POST',
        path: `/v1/accounts/${ids[(index * 104_729) % ids.length]}/messages`,
        headers: { ...auth, 'content-type': 'application/json', 'content-length': String(body.length) },
        body,
      }),
    });
    if ((posts.statuses.get(202) ?? 0) !== 100) problems.add('warm-up messages were not all accepted');
  }
  for (let page = 0; page < 5; page++)
    await (await fetch(`${api.origin}/v1/messages?limit=100`, { headers: auth })).text();
  for (let scrape = 0; scrape < 3; scrape++) {
    const metrics = await fetch(`${api.origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    if (!metrics.ok) problems.add(`GET /metrics answered ${metrics.status}`);
    await metrics.text();
  }
}

async function processPhase(
  label: string,
  env: Record<string, string>,
  database: BenchDatabase,
  emulator: Fixture<FleetEmulatorReady>,
  fleet: SeededFleet,
  profileDir: string | undefined,
): Promise<ProcessPhase> {
  const profile = (role: string) =>
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, label, role)}`] : [];
  const api = await startMailbridge('api', env, { probe: true, nodeOptions: profile('api') });
  const worker = await startMailbridge('worker', env, { probe: true, nodeOptions: profile('worker') });
  try {
    await warmApi(api, fleet);
    // Let the warm-up's messages go out, and the worker's start-up work (a first outbox sweep and hourly maintenance,
    // src/jobs/job-worker.ts) finish and reach PostgreSQL's statistics, before the window opens.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    await emulator.request('clearLog');
    const before = await postgresCounters(database);
    const cpuBefore = [cpuSeconds(api.child.pid!), cpuSeconds(worker.child.pid!)];
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_SECONDS * 1000));
    const hours = (performance.now() - started) / 3_600_000;
    const cpuAfter = [cpuSeconds(api.child.pid!), cpuSeconds(worker.child.pid!)];
    const after = await postgresCounters(database);
    const emulatorStats = await emulator.request<FleetEmulatorStats>('stats');
    const apiMemory = (await probeProcess(api)).memory;
    const workerMemory = (await probeProcess(worker)).memory;
    return {
      api: {
        ...apiMemory,
        peak: peakResidentBytes(api.child.pid!),
        cpuPerHour: (cpuAfter[0]! - cpuBefore[0]!) / hours,
      },
      worker: {
        ...workerMemory,
        peak: peakResidentBytes(worker.child.pid!),
        cpuPerHour: (cpuAfter[1]! - cpuBefore[1]!) / hours,
      },
      db: scale(counterDelta(before, after), 1 / hours),
      emulator: emulatorStats,
    };
  } finally {
    for (const service of [worker, api]) {
      const exit = await stopMailbridge(service);
      if (exit !== 0) problems.add(`${label}: mailbridge ${service.role} exited ${exit} after SIGTERM`);
    }
  }
}

function scale(counters: PostgresCounters, factor: number): PostgresCounters {
  const tables: PostgresCounters['tables'] = {};
  for (const [name, entry] of Object.entries(counters.tables)) {
    tables[name] = {
      seqScans: entry.seqScans * factor,
      seqRowsRead: entry.seqRowsRead * factor,
      indexScans: entry.indexScans * factor,
    };
  }
  const scaled = { ...counters, tables };
  for (const key of Object.keys(counters) as Array<keyof PostgresCounters>) {
    if (key !== 'tables') scaled[key] = counters[key] * factor;
  }
  return scaled;
}

async function hourPhase(
  label: string,
  env: Record<string, string>,
  database: BenchDatabase,
  emulator: Fixture<FleetEmulatorReady>,
  seeder: Awaited<ReturnType<typeof composeBenchService>>,
  options: { advanceEmulator: boolean; profileDir: string | undefined },
): Promise<HourPhase> {
  // The hour starts now: step m runs at start + m minutes on both clocks (or later, if the work fell behind).
  const start = Date.now() + 5_000;
  const end = start + HOUR_STEPS * 60_000;
  const due = async (until: number) =>
    Number(
      (
        await seeder.deps.db
          .selectFrom('accounts')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('next_health_check_at', '<=', until)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const dueInHour = await due(end);
  const worker = await Fixture.start<{ pid: number; jobs: string[] }>('idle-hour-process.ts', env, {
    execArgv: options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(options.profileDir, label, 'hour')}`] : [],
  });
  const slowestStepMs: HourPhase['slowestStepMs'] = {};
  let totals: IdleTotals;
  let wallSeconds: number;
  let before: PostgresCounters;
  let lastStepAt = start;
  try {
    for (const job of ['outbox-sweep', 'keepalive-sweep', 'health-sweep', 'hourly-maintenance']) {
      if (!worker.ready.jobs.includes(job)) throw new Error(`the job queue ${job} is gone: update bench/idle-fleet.ts`);
    }
    await worker.request<IdleTotals>('totals');
    await emulator.request('clearLog');
    before = await postgresCounters(database);
    const started = performance.now();
    for (let minute = 1; minute <= HOUR_STEPS; minute++) {
      const at = start + minute * 60_000;
      if (options.advanceEmulator) await emulator.request('setClock', { epochMs: at });
      // What pg-boss's cron sends at that minute (src/jobs/job-worker.ts SCHEDULES): the sweeps every minute, the
      // maintenance at minute 7.
      const jobs = ['outbox-sweep', 'keepalive-sweep', 'health-sweep', ...(minute === 7 ? ['hourly-maintenance'] : [])];
      const result = await worker.request<IdleStepResult>('step', { at, jobs });
      lastStepAt = result.now;
      for (const [name, ms] of Object.entries(result.durationsMs)) {
        slowestStepMs[name] = Math.max(slowestStepMs[name] ?? 0, ms ?? 0);
      }
    }
    wallSeconds = (performance.now() - started) / 1000;
    totals = await worker.request<IdleTotals>('totals');
  } finally {
    // Stopped before the counters are read: its backends flush their statistics as they disconnect.
    await worker.stop();
  }
  const after = await postgresCounters(database);
  const emulatorStats = await emulator.request<FleetEmulatorStats>('stats');
  // Due by the time the last sweeps started and still not done: a backlog (what fell due after them is not).
  const dueAtEnd = await due(Math.min(end, lastStepAt));
  return {
    wallSeconds,
    totals,
    db: counterDelta(before, after),
    emulator: emulatorStats,
    slowestStepMs,
    dueInHour,
    dueAtEnd,
  };
}

/** Steady state: the last check within the last interval, the next one due uniformly over the next. */
function steadySchedule(_index: number, minted: MintedUser, now: number) {
  const next = now + Math.floor(Math.random() * CHECK_INTERVAL_MS);
  const last = next - CHECK_INTERVAL_MS;
  return {
    last_refreshed_at: last,
    access_token_expires_at: last + minted.expiresIn * 1000,
    refresh_token_issued_at: last,
    next_keepalive_at: last + 7 * 86_400_000 - Math.floor(Math.random() * 12 * 3_600_000),
    next_health_check_at: next,
    refresh_failures: 0,
    refresh_retry_at: null,
  };
}

const count = (record: Record<string, number>) => Object.values(record).reduce((sum, value) => sum + value, 0);

async function main(): Promise<void> {
  console.log('Idle fleet benchmark');
  console.log(machineLine());
  console.log(loadLine('start'));
  console.log(
    `run: ${ACCOUNTS} connected accounts on PostgreSQL (own database), mailbridge api + worker for ${WINDOW_SECONDS} s of real time, then ${HOUR_STEPS} one-minute steps of the cron's job handlers on the emulator clock; baseline: 0 accounts; loopback`,
  );
  console.log(
    'accounts are seeded straight into the database with tokens minted by the emulator (not through the browser flow)',
  );
  const credentials = newBenchCredentials();
  const emulatorStarted = performance.now();
  const emulator = await Fixture.start<FleetEmulatorReady>('fleet-emulator-process.ts', {
    BENCH_USERS: String(ACCOUNTS),
    BENCH_CLIENT_ID: credentials.clientId,
    BENCH_CLIENT_SECRET: credentials.clientSecret,
  });
  console.log(`  emulator with ${ACCOUNTS} users ready in ${fixed((performance.now() - emulatorStarted) / 1000, 1)} s`);
  const database = await createBenchDatabase('postgres', 'idle');
  const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'mailbridge-bench-profile-')) : undefined;
  const env = benchServiceEnv({
    emulatorUrl: emulator.ready.url,
    ...credentials,
    databaseUrl: database.url,
    extra: { MAILBRIDGE_METRICS_TOKEN: METRICS_TOKEN },
  });
  const seeder = await composeBenchService({ ...env, LOG_LEVEL: 'silent' });
  let empty: { processes: ProcessPhase; hour: HourPhase };
  let full: { processes: ProcessPhase; hour: HourPhase; seed: SeededFleet };
  try {
    const none = await seedFleet(seeder.deps, emulator, { count: 0 });
    empty = {
      processes: await processPhase('empty', env, database, emulator, none, profileDir),
      hour: await hourPhase('empty', env, database, emulator, seeder, { advanceEmulator: false, profileDir }),
    };
    console.log('  baseline (0 accounts) measured');
    let reported = 0;
    const seed = await seedFleet(seeder.deps, emulator, {
      count: ACCOUNTS,
      schedule: steadySchedule,
      onProgress: (done) => {
        if (done - reported >= 25_000 || done === ACCOUNTS) {
          reported = done;
          console.log(`  seeded ${done} accounts`);
        }
      },
    });
    console.log(`  ${ACCOUNTS} accounts seeded in ${fixed(seed.seedSeconds, 1)} s`);
    full = {
      seed,
      processes: await processPhase('fleet', env, database, emulator, seed, profileDir),
      hour: await hourPhase('fleet', env, database, emulator, seeder, { advanceEmulator: true, profileDir }),
    };
  } finally {
    await seeder.close();
    await database.drop();
    await emulator.stop();
  }

  const mb = (bytes: number) => fixed(bytes / MB, 0);
  const ratio = (a: number, b: number) => (a > 0 ? fixed(b / a, 2) : '–');
  const row = (name: string, a: number, b: number, show: (value: number) => string): string[] => [
    name,
    show(a),
    show(b),
    ratio(a, b),
  ];
  const whole = (value: number) => fixed(value, 0);
  const one = (value: number) => fixed(value, 1);
  const [e, f] = [empty, full];
  const checks = (stats: FleetEmulatorStats) => count(stats.me);
  const grants = (stats: FleetEmulatorStats) => count(stats.tokenRequests);
  const rows = [
    row('API process: RSS after GC, MB', e.processes.api.rss, f.processes.api.rss, mb),
    row('API process: JS heap used after GC, MB', e.processes.api.heapUsed, f.processes.api.heapUsed, mb),
    row('API process: peak RSS, MB', e.processes.api.peak, f.processes.api.peak, mb),
    row('worker process: RSS after GC, MB', e.processes.worker.rss, f.processes.worker.rss, mb),
    row('worker process: JS heap used after GC, MB', e.processes.worker.heapUsed, f.processes.worker.heapUsed, mb),
    row('worker process: peak RSS, MB', e.processes.worker.peak, f.processes.worker.peak, mb),
    row('real time, per hour: worker CPU seconds', e.processes.worker.cpuPerHour, f.processes.worker.cpuPerHour, one),
    row('real time, per hour: API CPU seconds', e.processes.api.cpuPerHour, f.processes.api.cpuPerHour, one),
    row(
      'real time, per hour: PostgreSQL transactions',
      e.processes.db.transactions,
      f.processes.db.transactions,
      whole,
    ),
    row(
      'real time, per hour: rows read by sequential scans',
      e.processes.db.seqRowsRead,
      f.processes.db.seqRowsRead,
      whole,
    ),
    row(
      'real time, per hour: health checks (GET /me)',
      (checks(e.processes.emulator) * 3600) / WINDOW_SECONDS,
      (checks(f.processes.emulator) * 3600) / WINDOW_SECONDS,
      whole,
    ),
    row('emulator hour: worker CPU seconds', e.hour.totals.cpuSeconds, f.hour.totals.cpuSeconds, one),
    row(
      'emulator hour: SQL statements',
      totalStatements(e.hour.totals.statements),
      totalStatements(f.hour.totals.statements),
      whole,
    ),
    row('emulator hour: PostgreSQL transactions', e.hour.db.transactions, f.hour.db.transactions, whole),
    row('emulator hour: rows read by sequential scans', e.hour.db.seqRowsRead, f.hour.db.seqRowsRead, whole),
    row(
      'emulator hour: rows returned + fetched',
      e.hour.db.rowsReturned + e.hour.db.rowsFetched,
      f.hour.db.rowsReturned + f.hour.db.rowsFetched,
      whole,
    ),
    row(
      'emulator hour: rows written',
      e.hour.db.rowsInserted + e.hour.db.rowsUpdated + e.hour.db.rowsDeleted,
      f.hour.db.rowsInserted + f.hour.db.rowsUpdated + f.hour.db.rowsDeleted,
      whole,
    ),
    row('emulator hour: health checks (GET /me)', checks(e.hour.emulator), checks(f.hour.emulator), whole),
    row('emulator hour: refresh grants', grants(e.hour.emulator), grants(f.hour.emulator), whole),
    row('emulator hour: wall seconds', e.hour.wallSeconds, f.hour.wallSeconds, one),
  ];
  console.log('');
  console.log(markdownTable(['Figure', '0 accounts (baseline)', `${ACCOUNTS} accounts`, 'Ratio'], rows));
  console.log('');
  const perCheck = (value: number) => fixed(value / Math.max(1, checks(f.hour.emulator)), 2);
  console.log(
    `- emulator hour, ${ACCOUNTS} accounts: ${f.hour.dueInHour} health checks fell due, ${checks(f.hour.emulator)} ran (${count(f.hour.emulator.me) - (f.hour.emulator.me['200'] ?? 0)} not 200), ${f.hour.dueAtEnd} due and not done at the end; ` +
      `per check: ${perCheck(f.hour.totals.cpuSeconds * 1000)} ms CPU, ${perCheck(totalStatements(f.hour.totals.statements))} statements, ${perCheck(f.hour.db.transactions)} transactions; ` +
      `slowest step per job: ${Object.entries(f.hour.slowestStepMs)
        .map(([name, ms]) => `${name} ${fixed((ms ?? 0) / 1000, 1)} s`)
        .join(', ')}`,
  );
  console.log(
    `- emulator hour, statements by kind: 0 accounts ${JSON.stringify(e.hour.totals.statements)}; ${ACCOUNTS} accounts ${JSON.stringify(f.hour.totals.statements)}`,
  );
  const seqTables = (counters: PostgresCounters) =>
    Object.entries(counters.tables)
      .filter(([, entry]) => entry.seqScans > 0)
      .map(([name, entry]) => `${name} ${fixed(entry.seqScans, 0)} scans/${fixed(entry.seqRowsRead, 0)} rows`)
      .join(', ') || 'none';
  console.log(`- sequential scans, emulator hour with ${ACCOUNTS} accounts: ${seqTables(f.hour.db)}`);
  console.log(`- sequential scans, real time with ${ACCOUNTS} accounts (per hour): ${seqTables(f.processes.db)}`);
  console.log(
    `- real-time window: ${WINDOW_SECONDS} s, scaled to an hour; the worker is a real \`mailbridge worker\` (pg-boss polling, cron, sweeps); ${ACCOUNTS} accounts seeded in ${fixed(full.seed.seedSeconds, 1)} s`,
  );
  console.log(loadLine('end'));
  for (const [name, memory] of [
    ['API', f.processes.api],
    ['worker', f.processes.worker],
  ] as const) {
    console.log(
      `${name} process with ${ACCOUNTS} accounts: ${mb(memory.rss)} MB after GC, peak ${mb(memory.peak)} MB (target < 300 MB): ${memory.rss < 300 * MB ? 'target met' : 'TARGET MISSED'}`,
    );
  }
  if (f.hour.dueAtEnd > 0) {
    problems.add(`${f.hour.dueAtEnd} health checks were due and not done at the end of the emulator hour`);
  }
  if (profileDir) {
    for (const [label, part] of [
      ['fleet', 'worker'],
      ['fleet', 'api'],
      ['fleet', 'hour'],
    ] as const) {
      let files: string[] = [];
      try {
        files = profilesIn(join(profileDir, label, part));
      } catch {
        // No profile written.
      }
      for (const file of files) printProfileSummary(`${ACCOUNTS} accounts › ${part}`, summarizeCpuProfile(file));
    }
    if (!process.env.BENCH_KEEP_PROFILES) rmSync(profileDir, { recursive: true, force: true });
    else console.log(`profiles kept in ${profileDir}`);
  }
  problems.print();
}

await runBenchmark(main);
