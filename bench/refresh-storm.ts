import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requestFetch } from '../src/platform/http-transport.js';
import type { FleetEmulatorReady, FleetEmulatorStats, MintedUser } from './fixtures/fleet-emulator-process.js';
import type { StormResult } from './fixtures/token-storm-process.js';
import { chosenConfigs, integerArg } from './support/args.js';
import {
  BackendCpu,
  type BenchDatabase,
  counterDelta,
  createBenchDatabase,
  type PostgresCounters,
  postgresCounters,
} from './support/bench-database.js';
import { printProfileSummary, profilesIn, summarizeCpuProfile } from './support/cpu-profile.js';
import { benchServiceEnv, composeBenchService, newBenchCredentials, seedFleet } from './support/fleet.js';
import { Fixture } from './support/processes.js';
import { fixed, loadLine, machineLine, markdownTable, Problems, runBenchmark } from './support/report.js';
import { totalStatements } from './support/statement-counter.js';

/**
 * The refresh storm (issue 5 item 5): `--accounts` connected accounts whose access tokens all expire at once, and
 * `--per-account` concurrent token requests for each (as that many concurrent sends of one mailbox would make),
 * through the service's own `AccessTokenProvider` in a worker-like process (bench/fixtures/token-storm-process.ts),
 * accounts taken `--concurrency` at a time. Counted at the emulator (its request log): the refresh grants that
 * reached Microsoft — exactly one per account is the target — and the total time, against a bare refresh loop: the
 * same number of direct `refresh_token` grants (a form POST over the service's own HTTP transport), with the same
 * concurrency, against the same emulator, storing nothing. Target: ≤ 1.5× the bare loop's time.
 *
 * Configurations: SQLite (one process), PostgreSQL (one process), and PostgreSQL with two processes asking for the
 * same accounts at the same time (half the requests each: the cross-process single flight).
 *
 *   node --import tsx bench/refresh-storm.ts [--accounts 10000] [--per-account 20] [--concurrency 50]
 *     [--configs sqlite,pg,pg2] [--microsoft-latency-ms 0] [--profile] [--timeout-seconds 600]
 *   npm run bench -- refresh-storm
 */

const { values: args } = parseArgs({
  options: {
    accounts: { type: 'string', default: '10000' },
    'per-account': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '50' },
    configs: { type: 'string', default: 'sqlite,pg,pg2' },
    profile: { type: 'boolean', default: false },
    'microsoft-latency-ms': { type: 'string', default: '0' },
    'timeout-seconds': { type: 'string', default: '600' },
  },
});

const ACCOUNTS = integerArg('accounts', args.accounts);
const PER_ACCOUNT = integerArg('per-account', args['per-account']);
const CONCURRENCY = integerArg('concurrency', args.concurrency);
const TIMEOUT_MS = integerArg('timeout-seconds', args['timeout-seconds']) * 1000;
/**
 * Microsoft's own response time, added by the emulator to every token request (the bare loop's and the service's alike):
 * 0 measures mailbridge's overhead against an emulator that answers at once; a real token request takes longer.
 */
const MICROSOFT_LATENCY_MS = integerArg('microsoft-latency-ms', args['microsoft-latency-ms'], 0);
/** What the service asks for (src/tokens/refresh-grant.ts `refreshScopeParameter` of User.Read Mail.Send). */
const REFRESH_SCOPE = 'offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Send';

interface StormConfig {
  key: string;
  name: string;
  dialect: 'sqlite' | 'postgres';
  processes: number;
}

const ALL_CONFIGS: StormConfig[] = [
  { key: 'sqlite', name: 'AccessTokenProvider, SQLite, 1 process', dialect: 'sqlite', processes: 1 },
  { key: 'pg', name: 'AccessTokenProvider, PostgreSQL, 1 process', dialect: 'postgres', processes: 1 },
  { key: 'pg2', name: 'AccessTokenProvider, PostgreSQL, 2 processes', dialect: 'postgres', processes: 2 },
];
const CONFIGS = chosenConfigs(args.configs, ALL_CONFIGS);

interface Row {
  name: string;
  refreshes: number;
  seconds: number;
  baseline: Row | undefined;
  /** A bare loop shown beside the baseline, for reference (no target). */
  reference?: boolean;
  note: string;
}

const problems = new Problems();

function refreshCounts(stats: FleetEmulatorStats): { ok: number; total: number } {
  return {
    ok: stats.tokenRequests['200'] ?? 0,
    total: Object.values(stats.tokenRequests).reduce((sum, value) => sum + value, 0),
  };
}

/** How the bare loop posts its grants. */
interface Transport {
  label: string;
  fetch: typeof fetch;
}

/**
 * The service's own HTTP transport (src/platform/http-transport.ts): the baseline, so that the bare loop and the
 * provider differ only in what the provider does around the request.
 */
const SERVICE_TRANSPORT: Transport = { label: '', fetch: requestFetch };
/** Node's `fetch`, as a user would write the loop: shown for reference (it costs more CPU per request). */
const NODE_FETCH: Transport = { label: " with Node's fetch", fetch };

/** The bare loop: direct refresh_token grants, `concurrency` at a time, nothing stored. */
async function bareLoop(
  emulator: Fixture<FleetEmulatorReady>,
  clientSecret: string,
  transport: Transport = SERVICE_TRANSPORT,
): Promise<Row> {
  const tokens = await emulator.request<MintedUser[]>('mint', { from: 0, count: ACCOUNTS });
  await emulator.request('clearLog');
  const url = `${emulator.ready.url}/common/oauth2/v2.0/token`;
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < tokens.length) {
      const user = tokens[next++]!;
      const response = await transport.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: emulator.ready.clientId,
          client_secret: clientSecret,
          grant_type: 'refresh_token',
          refresh_token: user.refreshToken,
          scope: REFRESH_SCOPE,
        }),
      });
      await response.json();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const seconds = (performance.now() - started) / 1000;
  const stats = await emulator.request<FleetEmulatorStats>('stats');
  const counts = refreshCounts(stats);
  const name = `bare refresh loop${transport.label}, concurrency ${CONCURRENCY}`;
  if ((statuses.get(200) ?? 0) !== ACCOUNTS) {
    problems.add(
      `${name}: ${statuses.get(200) ?? 0} of ${ACCOUNTS} grants answered 200 (${JSON.stringify([...statuses])})`,
    );
  }
  return {
    name,
    refreshes: counts.ok,
    seconds,
    baseline: undefined,
    note: `${name}: ${ACCOUNTS} grants, ${counts.total} token requests at the emulator (${counts.ok} answered 200)`,
  };
}

async function storm(
  config: StormConfig,
  emulator: Fixture<FleetEmulatorReady>,
  credentials: ReturnType<typeof newBenchCredentials>,
  baseline: Row,
  profileDir: string | undefined,
): Promise<Row> {
  const database: BenchDatabase = await createBenchDatabase(config.dialect, `storm_${config.key}`);
  const env = benchServiceEnv({ emulatorUrl: emulator.ready.url, ...credentials, databaseUrl: database.url });
  let seeder = await composeBenchService({ ...env, LOG_LEVEL: 'silent' });
  const workers: Fixture<{ pid: number }>[] = [];
  try {
    const fleet = await seedFleet(seeder.deps, emulator, { count: ACCOUNTS });
    console.log(`  ${config.name}: ${ACCOUNTS} accounts seeded in ${fixed(fleet.seedSeconds, 1)} s`);
    for (let index = 0; index < config.processes; index++) {
      workers.push(
        await Fixture.start<{ pid: number }>('token-storm-process.ts', env, {
          execArgv: profileDir
            ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, config.key, `process-${index}`)}`]
            : [],
        }),
      );
    }
    // Every access token expires at once.
    const expiredAt = Date.now() - 1_000;
    await seeder.deps.db.updateTable('accounts').set({ access_token_expires_at: expiredAt }).execute();
    await emulator.request('clearLog');
    // PostgreSQL: its own counters (transactions, rows) and its backends' CPU, over the storm only. The seeder's
    // connections are closed first: an idle backend flushes its statistics up to 10 s late, but at once when it
    // disconnects, so the seeding is not counted in the storm.
    if (config.dialect === 'postgres') {
      await seeder.close();
      seeder = await composeBenchService({ ...env, LOG_LEVEL: 'silent' });
    }
    const countersBefore = config.dialect === 'postgres' ? await postgresCounters(database) : undefined;
    const backendCpu = config.dialect === 'postgres' ? await BackendCpu.start(database) : undefined;

    const perProcess = Math.ceil(PER_ACCOUNT / config.processes);
    const started = performance.now();
    const results = await Promise.race([
      Promise.all(
        workers.map((worker) =>
          worker.request<StormResult>('storm', {
            accountIds: fleet.accountIds,
            perAccount: perProcess,
            concurrency: CONCURRENCY,
          }),
        ),
      ),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${config.name}: not done within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS),
      ),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const backend = await backendCpu?.stop();
    // The workers' backends flush their statistics when they disconnect.
    for (const worker of workers.splice(0)) await worker.stop();
    const counters = countersBefore ? counterDelta(countersBefore, await postgresCounters(database)) : undefined;
    const stats = await emulator.request<FleetEmulatorStats>('stats');
    const counts = refreshCounts(stats);
    if (counts.ok !== ACCOUNTS || counts.total !== ACCOUNTS) {
      problems.add(
        `${config.name}: ${counts.total} refresh grants reached the emulator (${counts.ok} answered 200), ${ACCOUNTS} accounts`,
      );
    }
    if (stats.maxGrantsPerUser > 1) {
      problems.add(`${config.name}: an account was refreshed ${stats.maxGrantsPerUser} times`);
    }
    const calls = results.reduce((sum, result) => sum + result.calls, 0);
    const ok = results.reduce((sum, result) => sum + result.ok, 0);
    const twoTokens = results.reduce((sum, result) => sum + result.accountsWithTwoTokens, 0);
    if (ok !== calls) {
      problems.add(
        `${config.name}: ${calls - ok} of ${calls} token requests failed: ${results.map((r) => JSON.stringify(r.errors)).join(' ')} (${results.find((r) => r.firstError)?.firstError})`,
      );
    }
    if (twoTokens > 0) problems.add(`${config.name}: ${twoTokens} accounts handed out two different tokens at once`);
    const stillExpired = await seeder.deps.db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('access_token_expires_at', '<=', Date.now())
      .executeTakeFirstOrThrow();
    if (Number(stillExpired.n) > 0)
      problems.add(`${config.name}: ${stillExpired.n} accounts still hold an expired token`);
    const statements: Record<string, number> = {};
    for (const result of results) {
      for (const [kind, count] of Object.entries(result.statements)) statements[kind] = (statements[kind] ?? 0) + count;
    }
    const statementCount = totalStatements(statements);
    return {
      name: config.name,
      refreshes: counts.ok,
      seconds,
      baseline,
      note:
        `${config.name}: ${calls} getAccessToken calls (${perProcess} per account per process), ${ok} answered; ` +
        `${counts.total} token requests at the emulator, ${stats.refreshedUsers} accounts refreshed, at most ${stats.maxGrantsPerUser} per account; ` +
        `CPU ${results.map((r) => `${fixed(r.cpuSeconds, 1)} s`).join(' + ')}; ` +
        `SQL statements ${statementCount} (${fixed(statementCount / ACCOUNTS, 1)} per account: ${Object.entries(
          statements,
        )
          .map(([kind, count]) => `${kind} ${count}`)
          .join(', ')})${postgresNote(counters, backend)}`,
    };
  } finally {
    for (const worker of workers) await worker.stop();
    await seeder.close();
    await database.drop();
  }
}

/** PostgreSQL's side of a storm, per account: its transactions and rows, and its backends' CPU. */
function postgresNote(
  counters: PostgresCounters | undefined,
  backend: { seconds: number; backends: number } | undefined,
): string {
  if (!counters || !backend) return '';
  const per = (value: number) => fixed(value / ACCOUNTS, 2);
  return (
    `; PostgreSQL: ${per(counters.transactions)} transactions per account, rows per account ` +
    `${per(counters.rowsFetched)} fetched, ${per(counters.rowsInserted)} inserted, ${per(counters.rowsUpdated)} updated; ` +
    `backend CPU ${fixed(backend.seconds, 1)} s (${backend.backends} backends)`
  );
}

async function main(): Promise<void> {
  console.log('Refresh storm benchmark');
  console.log(machineLine());
  console.log(loadLine('start'));
  console.log(`Microsoft's response time added by the emulator to every token request: ${MICROSOFT_LATENCY_MS} ms`);
  console.log(
    `run: ${ACCOUNTS} accounts, access tokens all expired, ${PER_ACCOUNT} concurrent token requests per account, ${CONCURRENCY} accounts at a time, loopback; configurations ${CONFIGS.map((c) => c.key).join(', ')}`,
  );
  console.log(
    'accounts are seeded straight into the database with tokens minted by the emulator (not through the browser flow)',
  );
  const credentials = newBenchCredentials();
  const emulator = await Fixture.start<FleetEmulatorReady>('fleet-emulator-process.ts', {
    BENCH_USERS: String(ACCOUNTS),
    BENCH_CLIENT_ID: credentials.clientId,
    BENCH_CLIENT_SECRET: credentials.clientSecret,
  });
  await emulator.request('latency', { target: 'token', ms: MICROSOFT_LATENCY_MS });
  const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'mailbridge-bench-profile-')) : undefined;
  const rows: Row[] = [];
  try {
    const withNodeFetch = await bareLoop(emulator, credentials.clientSecret, NODE_FETCH);
    const baseline = await bareLoop(emulator, credentials.clientSecret);
    rows.push(baseline, { ...withNodeFetch, baseline, reference: true });
    for (const config of CONFIGS) rows.push(await storm(config, emulator, credentials, baseline, profileDir));
    const again = await bareLoop(emulator, credentials.clientSecret);
    again.name = `${again.name} (again, at the end)`;
    rows.push(again);
  } finally {
    await emulator.stop();
  }

  console.log('');
  console.log(
    markdownTable(
      ['Refreshing', 'Refreshes at the emulator', 'Per account', 'Seconds', 'Refreshes/s', 'Time vs. bare loop'],
      rows.map((row) => [
        row.name,
        String(row.refreshes),
        fixed(row.refreshes / ACCOUNTS, 2),
        fixed(row.seconds, 2),
        fixed(row.refreshes / row.seconds, 0),
        row.baseline ? fixed(row.seconds / row.baseline.seconds, 2) : '1.00',
      ]),
    ),
  );
  console.log('');
  for (const row of rows) console.log(`- ${row.note}`);
  console.log(loadLine('end'));
  for (const row of rows) {
    if (!row.baseline || row.reference) continue;
    const ratio = row.seconds / row.baseline.seconds;
    const once = row.refreshes === ACCOUNTS;
    console.log(
      `${row.name}: ${once ? 'exactly one refresh per account' : `${row.refreshes} refreshes for ${ACCOUNTS} accounts`}, ${fixed(ratio, 2)}× the bare loop's time (target ≤ 1.5×): ${once && ratio <= 1.5 ? 'target met' : 'TARGET MISSED'}`,
    );
  }
  if (profileDir) {
    for (const config of CONFIGS) {
      for (let index = 0; index < config.processes; index++) {
        let files: string[] = [];
        try {
          files = profilesIn(join(profileDir, config.key, `process-${index}`));
        } catch {
          // No profile written (the process was killed).
        }
        for (const file of files) printProfileSummary(`${config.name} › process ${index}`, summarizeCpuProfile(file));
      }
    }
    if (!process.env.BENCH_KEEP_PROFILES) rmSync(profileDir, { recursive: true, force: true });
    else console.log(`profiles kept in ${profileDir}`);
  }
  problems.print();
}

await runBenchmark(main);
