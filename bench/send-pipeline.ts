import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ServiceDeps } from '../src/services.js';
import type { FloorResult, FloorRun } from './fixtures/durable-floor-process.js';
import type { FleetEmulatorReady, FleetEmulatorStats, MintedUser } from './fixtures/fleet-emulator-process.js';
import { chosenConfigs, integerArg } from './support/args.js';
import {
  BackendCpu,
  type BenchDatabase,
  counterDelta,
  createBenchDatabase,
  postgresCounters,
} from './support/bench-database.js';
import { runClosedLoop } from './support/closed-loop.js';
import { printProfileSummary, profilesIn, summarizeCpuProfile } from './support/cpu-profile.js';
import { benchServiceEnv, composeBenchService, newBenchCredentials, seedFleet } from './support/fleet.js';
import { type LoadMailbox, runLoad } from './support/http-load.js';
import {
  contextSwitches,
  cpuSeconds,
  Fixture,
  type MailbridgeProcess,
  type MailbridgeRole,
  probeProcess,
  startMailbridge,
  stopMailbridge,
} from './support/processes.js';
import { fixed, loadLine, machineLine, markdownTable, Problems, quantile, runBenchmark } from './support/report.js';
import { totalStatements } from './support/statement-counter.js';

/**
 * The send pipeline (issue 5 item 5, issue 14): `--messages` messages over `--mailboxes` connected mailboxes through
 * the API (`POST /v1/accounts/{id}/messages` → outbox → Graph `sendMail` → sent), against two baselines of the same
 * run, same emulator, same mailboxes, same concurrency:
 * - the durable floor (issue 14; bench/fixtures/durable-floor-process.ts): per message one committed INSERT, the
 *   sendMail, one committed UPDATE, on the configuration's database (SQLite with the service's pragmas, PostgreSQL
 *   with its pool size). Run right before each configuration, so both see the same machine;
 * - the bare loop a user would otherwise write: direct `POST /v1.0/me/sendMail` calls, no persistence.
 * Configurations: SQLite (`mailbridge start`, one process), PostgreSQL with one API process and 1 worker process,
 * and with 2 worker processes.
 *
 * CPU per message is the figure issue 14 is judged on (throughput moves with whatever else the shared machine runs):
 * the CPU seconds of every process doing the work, divided by the messages sent: the mailbridge processes (or the
 * floor's process) and the PostgreSQL backends serving them (bench/support/bench-database.ts `BackendCpu`); the
 * emulator and the load generator are left out. Targets (issue 14): CPU per message ≤ 2× the floor's on SQLite and on
 * PostgreSQL (1 api + 1 worker), 2 workers no worse per message than 1, throughput ≥ 40 % of the floor's.
 *
 * - The emulator runs in its own process impersonating Microsoft's hosts, its sending limits lifted (the
 *   4-concurrent budget per mailbox stays); mailbridge's own pacing is lifted to match
 *   (MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE, MAILBRIDGE_MAILBOX_RECIPIENTS_PER_DAY), so the pipeline is measured,
 *   not Microsoft's pacing.
 * - Mailboxes are seeded straight into the service's database with tokens the emulator minted (bench/support/fleet.ts).
 * - Throughput: messages ÷ (last `sent_at` − first POST). Latency: `sent_at − created_at` of each message (the service
 *   stamps both). The bare loop's figures are the same, from its first request to its last answer.
 * - Every message must end `sent`, and the emulator must log exactly one accepted sendMail per message.
 *
 * - "The same concurrency": as many sendMail requests in flight as the configuration can have. SQLite's in-process
 *   loop keeps at most 50 sends in flight (src/outbox/dispatcher.ts `runOutboxRounds`); a PostgreSQL worker
 *   process runs up to 16 mailbox jobs at once, each with up to 4 sends in flight (src/jobs/job-worker.ts, the
 *   per-mailbox concurrency): 64 per worker process. The bare loop runs at 50, 64 and 128.
 *
 *   node --import tsx bench/send-pipeline.ts [--messages 2000] [--mailboxes 400] [--full] [--submit-concurrency 50]
 *     [--configs sqlite,pg1,pg2] [--microsoft-latency-ms 0] [--profile] [--timeout-seconds 900]
 *   (`--full`: 5,000 messages over 1,000 mailboxes, issue 14's size, unless --messages/--mailboxes say otherwise)
 *   npm run bench -- send-pipeline
 */

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string' },
    mailboxes: { type: 'string' },
    full: { type: 'boolean', default: false },
    'submit-concurrency': { type: 'string', default: '50' },
    configs: { type: 'string', default: 'sqlite,pg1,pg2' },
    profile: { type: 'boolean', default: false },
    'microsoft-latency-ms': { type: 'string', default: '0' },
    'timeout-seconds': { type: 'string', default: '900' },
  },
});

/** The default size fits a shared 2-core machine; `--full` is issue 14's (5,000 messages over 1,000 mailboxes). */
const MESSAGES = integerArg('messages', args.messages ?? (args.full ? '5000' : '2000'));
const MAILBOXES = integerArg('mailboxes', args.mailboxes ?? (args.full ? '1000' : '400'));
/** API submissions in flight at once (the host application's side). */
const SUBMIT_CONCURRENCY = integerArg('submit-concurrency', args['submit-concurrency']);
const TIMEOUT_MS = integerArg('timeout-seconds', args['timeout-seconds']) * 1000;
/**
 * Microsoft's own response time, added by the emulator to every sendMail (the bare loop's and the service's alike):
 * 0 measures mailbridge's overhead against an emulator that answers at once; a real sendMail takes longer.
 */
const MICROSOFT_LATENCY_MS = integerArg('microsoft-latency-ms', args['microsoft-latency-ms'], 0);
/** Outlook's concurrency budget per app + mailbox (docs/graph.md §3.3); the emulator enforces it. */
const PER_MAILBOX = 4;

interface PipelineConfig {
  key: string;
  name: string;
  dialect: 'sqlite' | 'postgres';
  roles: MailbridgeRole[];
  /** The most sendMail requests this configuration can have in flight: the bare loop's concurrency. */
  sendConcurrency: number;
  /** Whether issue 5 sets a target for it (throughput against the bare loop). */
  target: boolean;
}

/** SQLite's in-process loop: at most 50 sends in flight (src/outbox/dispatcher.ts `runOutboxRounds`). */
const SQLITE_IN_FLIGHT = 50;
/** A PostgreSQL worker process: 16 mailbox jobs at once (src/jobs/job-worker.ts) × 4 sends per mailbox. */
const WORKER_IN_FLIGHT = 16 * PER_MAILBOX;

const ALL_CONFIGS: PipelineConfig[] = [
  {
    key: 'sqlite',
    name: 'mailbridge start, SQLite',
    dialect: 'sqlite',
    roles: ['start'],
    sendConcurrency: SQLITE_IN_FLIGHT,
    target: true,
  },
  {
    key: 'pg1',
    name: 'PostgreSQL, 1 api + 1 worker',
    dialect: 'postgres',
    roles: ['api', 'worker'],
    sendConcurrency: WORKER_IN_FLIGHT,
    target: false,
  },
  {
    key: 'pg2',
    name: 'PostgreSQL, 1 api + 2 workers',
    dialect: 'postgres',
    roles: ['api', 'worker', 'worker'],
    sendConcurrency: 2 * WORKER_IN_FLIGHT,
    target: true,
  },
];
const CONFIGS = chosenConfigs(args.configs, ALL_CONFIGS);

interface Row {
  name: string;
  messages: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  baseline: Row | undefined;
  /** The durable floor of the same configuration (pipeline rows). */
  floor: Row | undefined;
  /** CPU seconds of the Node processes doing the work (mailbridge's, or the floor's), and of PostgreSQL's backends. */
  nodeCpu: number | undefined;
  databaseCpu: number | undefined;
  /** Extra figures for the notes under the table. */
  note: string;
}

/** CPU microseconds per message of a row (Node processes + PostgreSQL backends), when measured. */
function cpuPerMessage(row: Row): number | undefined {
  if (row.nodeCpu === undefined) return undefined;
  return ((row.nodeCpu + (row.databaseCpu ?? 0)) / Math.max(1, row.messages)) * 1e6;
}

const problems = new Problems();

function messageText(index: number): { subject: string; text: string; to: string } {
  return {
    subject: `Weekly report ${index}`,
    text: 'Hello,\n\nthe figures for this week are below.\n\nRegards',
    to: `partner${index % 997}@partner.example`,
  };
}

/** The bare loop: direct sendMail with each mailbox's token, the same message, the same concurrency. */
async function bareLoop(
  emulator: Fixture<FleetEmulatorReady>,
  tokens: MintedUser[],
  concurrency: number,
): Promise<Row> {
  await emulator.request('clearLog');
  const mailboxes: LoadMailbox[] = tokens.map((user, index) => {
    const { subject, text, to } = messageText(index);
    const body = Buffer.from(
      JSON.stringify({
        message: {
          subject,
          body: { contentType: 'Text', content: text },
          toRecipients: [{ emailAddress: { address: to } }],
        },
      }),
    );
    return {
      headers: {
        authorization: `Bearer ${user.accessToken}`,
        'content-type': 'application/json',
        'content-length': String(body.length),
      },
      body,
    };
  });
  const result = await runLoad(
    { origin: emulator.ready.url, path: '/v1.0/me/sendMail', mailboxes },
    { count: MESSAGES, concurrency, perMailbox: PER_MAILBOX, timeoutMs: TIMEOUT_MS },
  );
  const name = `bare sendMail loop, concurrency ${concurrency}`;
  const accepted = result.statuses.get(202) ?? 0;
  if (accepted !== MESSAGES) {
    problems.add(`${name}: ${accepted} of ${MESSAGES} answered 202 (${JSON.stringify([...result.statuses])})`);
  }
  const stats = await emulator.request<FleetEmulatorStats>('stats');
  if (stats.throttled > 0) problems.add(`${name}: the emulator throttled ${stats.throttled} requests`);
  const sorted = Float64Array.from(result.latenciesMs).sort();
  return {
    name,
    messages: result.completed,
    seconds: result.elapsedMs / 1000,
    perSecond: (result.completed / result.elapsedMs) * 1000,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    baseline: undefined,
    floor: undefined,
    nodeCpu: undefined,
    databaseCpu: undefined,
    note: `${name}: ${result.completed} requests in ${fixed(result.elapsedMs / 1000, 2)} s`,
  };
}

/**
 * The durable floor on the configuration's database (a fresh one): the floor's own process
 * (bench/fixtures/durable-floor-process.ts) with the configuration's send concurrency. CPU: that process and the
 * PostgreSQL backends of its pool.
 */
async function durableFloor(
  config: PipelineConfig,
  emulator: Fixture<FleetEmulatorReady>,
  tokens: MintedUser[],
): Promise<Row> {
  const name = `durable floor, ${config.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, concurrency ${config.sendConcurrency}`;
  const database = await createBenchDatabase(config.dialect, `floor_${config.key}`);
  const floor = await Fixture.start<{ ready: true }>('durable-floor-process.ts');
  try {
    await emulator.request('clearLog');
    const backends = config.dialect === 'postgres' ? await BackendCpu.start(database) : undefined;
    const cpuBefore = cpuSeconds(floor.child.pid!);
    const run: FloorRun = {
      databaseUrl: database.url,
      emulatorUrl: emulator.ready.url,
      accessTokens: tokens.map((user) => user.accessToken),
      count: MESSAGES,
      concurrency: config.sendConcurrency,
      perMailbox: PER_MAILBOX,
    };
    const result = await floor.request<FloorResult>('run', { ...run });
    const nodeCpu = cpuSeconds(floor.child.pid!) - cpuBefore;
    const databaseCpu = backends ? (await backends.stop()).seconds : undefined;
    if (result.sent !== MESSAGES) {
      problems.add(`${name}: ${result.sent} of ${MESSAGES} sent (${result.failed} failed: ${result.firstFailure})`);
    }
    const seconds = (result.endedAt - result.startedAt) / 1000;
    return {
      name,
      messages: result.sent,
      seconds,
      perSecond: result.sent / seconds,
      p50: Number.NaN,
      p99: Number.NaN,
      baseline: undefined,
      floor: undefined,
      nodeCpu,
      databaseCpu,
      note: `${name}: ${result.sent} messages in ${fixed(seconds, 2)} s; CPU seconds: floor process ${fixed(nodeCpu, 2)}${databaseCpu === undefined ? '' : `, PostgreSQL backends ${fixed(databaseCpu, 2)}`}`,
    };
  } finally {
    await floor.stop();
    await database.drop();
  }
}

/**
 * Messages not final yet. On PostgreSQL through the CPU sampler's own connection (another application name), so the
 * benchmark's polling is not counted as the service's backends' work; on SQLite through the seeder (in-process).
 */
async function unfinishedMessages(deps: ServiceDeps, backends: BackendCpu | undefined): Promise<number> {
  if (backends) {
    const { rows } = await backends.client.query<{ n: string }>(
      `select count(*) as n from outbox_messages where status in ('queued', 'sending')`,
    );
    return Number(rows[0]?.n ?? 0);
  }
  const row = await deps.db
    .selectFrom('outbox_messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', 'in', ['queued', 'sending'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function pipeline(
  config: PipelineConfig,
  emulator: Fixture<FleetEmulatorReady>,
  credentials: ReturnType<typeof newBenchCredentials>,
  baseline: Row,
  floor: Row,
  profileDir: string | undefined,
): Promise<Row> {
  const database: BenchDatabase = await createBenchDatabase(config.dialect, `send_${config.key}`);
  const env = benchServiceEnv({
    emulatorUrl: emulator.ready.url,
    ...credentials,
    databaseUrl: database.url,
    extra: {
      // Microsoft's pacing is lifted in the emulator; mailbridge's own per-mailbox budgets follow. Concurrency stays 4.
      MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE: '100000',
      MAILBRIDGE_MAILBOX_RECIPIENTS_PER_DAY: '100000000',
    },
  });
  const services: MailbridgeProcess[] = [];
  const seeder = await composeBenchService({ ...env, LOG_LEVEL: 'silent' });
  try {
    const fleet = await seedFleet(seeder.deps, emulator, { count: MAILBOXES });
    console.log(`  ${config.name}: ${MAILBOXES} mailboxes seeded in ${fixed(fleet.seedSeconds, 1)} s`);
    const configProfileDir = profileDir ? join(profileDir, config.key) : undefined;
    for (const role of config.roles) {
      services.push(
        await startMailbridge(role, env, {
          probe: true,
          nodeOptions: configProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(configProfileDir, role)}`] : [],
        }),
      );
    }
    const api = services.find((service) => service.origin !== undefined)!;
    await emulator.request('clearLog');
    const probesBefore = await Promise.all(services.map((service) => probeProcess(service)));
    const counters = config.dialect === 'postgres' ? await postgresCounters(database) : undefined;
    const backends = config.dialect === 'postgres' ? await BackendCpu.start(database) : undefined;
    const cpuBefore = services.map((service) => cpuSeconds(service.child.pid!));
    const switchesBefore = services.map((service) => contextSwitches(service.child.pid!));

    const bodies = Array.from({ length: 997 }, (_, index) => Buffer.from(JSON.stringify(messageText(index))));
    const submitted = await runClosedLoop({
      origin: api.origin!,
      count: MESSAGES,
      concurrency: SUBMIT_CONCURRENCY,
      timeoutMs: TIMEOUT_MS,
      expectStatus: 202,
      build: (index) => {
        const body = bodies[index % bodies.length]!;
        return {
          method: 'POST',
          path: `/v1/accounts/${fleet.accountIds[index % MAILBOXES]}/messages`,
          headers: {
            authorization: `Bearer ${fleet.apiKey}`,
            'content-type': 'application/json',
            'content-length': String(body.length),
          },
          body,
        };
      },
    });
    const accepted = submitted.statuses.get(202) ?? 0;
    if (accepted !== MESSAGES) {
      problems.add(
        `${config.name}: ${accepted} of ${MESSAGES} POSTs answered 202 (${JSON.stringify([...submitted.statuses])}; ${submitted.unexpected.join(' | ')})`,
      );
    }

    // Wait until every accepted message is final (sent, failed, outcome_unknown…).
    const deadline = submitted.startedAt + TIMEOUT_MS;
    let pending = accepted;
    while (pending > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      pending = await unfinishedMessages(seeder.deps, backends);
    }
    if (pending > 0) problems.add(`${config.name}: ${pending} messages still queued or sending at the deadline`);
    const cpuAfter = services.map((service) => cpuSeconds(service.child.pid!));
    const switchesAfter = services.map((service) => contextSwitches(service.child.pid!));
    const backendCpu = backends ? await backends.stop() : undefined;
    const probesAfter = await Promise.all(services.map((service) => probeProcess(service)));
    const countersAfter = counters ? await postgresCounters(database) : undefined;

    const messages = await seeder.deps.db
      .selectFrom('outbox_messages')
      .select(['status', 'created_at', 'sent_at', 'attempts'])
      .execute();
    const sent = messages.filter((message) => message.status === 'sent' && message.sent_at !== null);
    const byStatus = new Map<string, number>();
    for (const message of messages) byStatus.set(message.status, (byStatus.get(message.status) ?? 0) + 1);
    if (sent.length !== MESSAGES) {
      problems.add(`${config.name}: ${sent.length} of ${MESSAGES} messages sent (${JSON.stringify([...byStatus])})`);
    }
    const lastSent = Math.max(...sent.map((message) => Number(message.sent_at)));
    const latencies = Float64Array.from(sent.map((message) => Number(message.sent_at) - Number(message.created_at)));
    latencies.sort();
    const stats = await emulator.request<FleetEmulatorStats>('stats');
    const acceptedByGraph = stats.sendMail['202'] ?? 0;
    if (acceptedByGraph !== sent.length) {
      problems.add(
        `${config.name}: the emulator accepted ${acceptedByGraph} sendMail for ${sent.length} sent messages`,
      );
    }
    if (stats.throttled > 0) problems.add(`${config.name}: the emulator throttled ${stats.throttled} requests`);
    if (stats.maxInFlight > PER_MAILBOX) problems.add(`${config.name}: a mailbox had ${stats.maxInFlight} in flight`);
    const retried = sent.filter((message) => Number(message.attempts) > 1).length;

    const seconds = (lastSent - submitted.startedAt) / 1000;
    const cpuOf = services.map((_, index) => cpuAfter[index]! - cpuBefore[index]!);
    const cpu = [
      ...services.map((service, index) => `${service.role} ${fixed(cpuOf[index]!, 2)} s`),
      ...(backendCpu
        ? [`PostgreSQL backends ${fixed(backendCpu.seconds, 2)} s (${backendCpu.backends} backends)`]
        : []),
    ].join(', ');
    const perMessage = (value: number) => fixed(value / Math.max(1, sent.length), 1);
    const statements = services
      .map(
        (service, index) =>
          `${service.role} ${perMessage(totalStatements(probesAfter[index]!.statements) - totalStatements(probesBefore[index]!.statements))}`,
      )
      .join(', ');
    // Per message: the processes' context switches, waits (voluntary) and preemptions (involuntary).
    const switches = services
      .map((service, index) => {
        const voluntary = switchesAfter[index]!.voluntary - switchesBefore[index]!.voluntary;
        const involuntary = switchesAfter[index]!.involuntary - switchesBefore[index]!.involuntary;
        return `${service.role} ${perMessage(voluntary)} + ${perMessage(involuntary)}`;
      })
      .join(', ');
    const databaseNote =
      counters && countersAfter
        ? (() => {
            const delta = counterDelta(counters, countersAfter);
            return `; PostgreSQL per message: ${perMessage(delta.transactions)} transactions, ${perMessage(delta.indexScans)} index scans, ${perMessage(delta.rowsInserted + delta.rowsUpdated + delta.rowsDeleted)} rows written`;
          })()
        : '';
    const exits: string[] = [];
    for (const service of services.splice(0)) exits.push(`${service.role} ${await stopMailbridge(service)}`);
    if (exits.some((exit) => !exit.endsWith(' 0'))) problems.add(`${config.name}: exits after SIGTERM: ${exits}`);
    return {
      name: config.name,
      messages: sent.length,
      seconds,
      perSecond: sent.length / seconds,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      baseline,
      floor,
      nodeCpu: cpuOf.reduce((sum, each) => sum + each, 0),
      databaseCpu: backendCpu?.seconds,
      note:
        `${config.name}: API accepted ${accepted} in ${fixed(submitted.elapsedMs / 1000, 2)} s ` +
        `(${fixed((accepted / submitted.elapsedMs) * 1000, 0)}/s, POST p50 ${fixed(quantile(Float64Array.from(submitted.latenciesMs).sort(), 0.5), 1)} ms); ` +
        `last sent ${fixed((lastSent - submitted.endedAt) / 1000, 2)} s after the last POST; ` +
        `Graph sendMail 202: ${acceptedByGraph}, token requests: ${Object.values(stats.tokenRequests).reduce((a, b) => a + b, 0)}, ` +
        `messages retried: ${retried}; CPU seconds during the run: ${cpu}; SQL statements per message: ${statements}; context switches per message (waits + preemptions): ${switches}${databaseNote}`,
    };
  } finally {
    for (const service of services) await stopMailbridge(service, 5_000);
    await seeder.close();
    await database.drop();
  }
}

async function main(): Promise<void> {
  console.log('Send pipeline benchmark');
  console.log(machineLine());
  console.log(loadLine('start'));
  console.log(`Microsoft's response time added by the emulator to every sendMail: ${MICROSOFT_LATENCY_MS} ms`);
  console.log(
    `run: ${MESSAGES} messages over ${MAILBOXES} mailboxes, API submissions ${SUBMIT_CONCURRENCY} at a time, sendMail at most ${PER_MAILBOX} per mailbox, loopback; configurations ${CONFIGS.map((c) => c.key).join(', ')}`,
  );
  console.log(
    'mailboxes are seeded straight into the database with tokens minted by the emulator (not through the browser flow)',
  );
  const credentials = newBenchCredentials();
  const emulator = await Fixture.start<FleetEmulatorReady>('fleet-emulator-process.ts', {
    BENCH_USERS: String(MAILBOXES),
    BENCH_CLIENT_ID: credentials.clientId,
    BENCH_CLIENT_SECRET: credentials.clientSecret,
  });
  await emulator.request('latency', { target: 'send', ms: MICROSOFT_LATENCY_MS });
  const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'mailbridge-bench-profile-')) : undefined;
  const rows: Row[] = [];
  try {
    // The bare loop's tokens: minted for the same users, separately from the ones seeded into mailbridge.
    const tokens = await emulator.request<MintedUser[]>('mint', { from: 0, count: MAILBOXES });
    // Warm-up (not counted): the emulator's and the client's code paths compiled before anything is measured.
    await bareLoop(emulator, tokens, SQLITE_IN_FLIGHT);
    const baselines = new Map<number, Row>();
    for (const concurrency of new Set(CONFIGS.map((config) => config.sendConcurrency))) {
      const row = await bareLoop(emulator, tokens, concurrency);
      baselines.set(concurrency, row);
      rows.push(row);
    }
    for (const config of CONFIGS) {
      // The floor right before its configuration: the two see the same machine (issue 14: same run, interleaved).
      const floor = await durableFloor(config, emulator, tokens);
      rows.push(floor);
      rows.push(
        await pipeline(config, emulator, credentials, baselines.get(config.sendConcurrency)!, floor, profileDir),
      );
    }
    // The bare loop once more at the end: how much the machine's load moved during the run.
    const again = await bareLoop(emulator, tokens, CONFIGS[0]!.sendConcurrency);
    again.name = `${again.name} (again, at the end)`;
    rows.push(again);
  } finally {
    await emulator.stop();
  }

  console.log('');
  console.log(
    markdownTable(
      [
        'Pipeline',
        'Messages',
        'Seconds',
        'Messages/s',
        'p50 ms',
        'p99 ms',
        'vs. bare loop',
        'CPU µs/message',
        'of which PostgreSQL',
        'CPU vs. floor',
        'Messages/s vs. floor',
      ],
      rows.map((row) => {
        const cpu = cpuPerMessage(row);
        const floorCpu = row.floor ? cpuPerMessage(row.floor) : undefined;
        return [
          row.name,
          String(row.messages),
          fixed(row.seconds, 2),
          fixed(row.perSecond, 0),
          Number.isNaN(row.p50) ? '' : fixed(row.p50, 1),
          Number.isNaN(row.p99) ? '' : fixed(row.p99, 1),
          row.baseline ? fixed(row.perSecond / row.baseline.perSecond, 2) : row.nodeCpu === undefined ? '1.00' : '',
          cpu === undefined ? '' : fixed(cpu, 0),
          row.databaseCpu === undefined ? '' : fixed((row.databaseCpu / Math.max(1, row.messages)) * 1e6, 0),
          cpu !== undefined && floorCpu !== undefined ? fixed(cpu / floorCpu, 2) : '',
          row.floor ? fixed(row.perSecond / row.floor.perSecond, 2) : '',
        ];
      }),
    ),
  );
  console.log('');
  console.log('p50/p99: bare loop, each sendMail request; pipeline, accept (created_at) → sent (sent_at).');
  console.log(
    'CPU µs/message: CPU of the processes doing the work (mailbridge or the floor, and the PostgreSQL backends serving them; not the emulator, not the load generator) ÷ messages sent.',
  );
  for (const row of rows) console.log(`- ${row.note}`);
  console.log(loadLine('end'));
  for (const row of rows) {
    const config = CONFIGS.find((candidate) => candidate.name === row.name);
    if (!config || !row.baseline) continue;
    const ratio = row.perSecond / row.baseline.perSecond;
    const target = !config.target ? 'no target' : ratio >= 0.5 ? 'target met' : 'TARGET MISSED';
    console.log(`${row.name}: ${fixed(ratio * 100, 0)} % of the bare loop (issue 5 target ≥ 50 %): ${target}`);
    const cpu = cpuPerMessage(row);
    const floorCpu = row.floor ? cpuPerMessage(row.floor) : undefined;
    if (cpu === undefined || floorCpu === undefined || !row.floor) continue;
    const verdict = (met: boolean) => (met ? 'target met' : 'TARGET MISSED');
    if (config.key === 'pg2') {
      const one = rows.find((candidate) => candidate.name === ALL_CONFIGS[1]!.name);
      const oneCpu = one ? cpuPerMessage(one) : undefined;
      if (oneCpu !== undefined) {
        console.log(
          `${row.name}: ${fixed(cpu, 0)} µs of CPU per message against ${fixed(oneCpu, 0)} with 1 worker (issue 14 target: no worse): ${verdict(cpu <= oneCpu)}`,
        );
      }
    } else {
      console.log(
        `${row.name}: CPU per message ${fixed(cpu / floorCpu, 2)}× the durable floor (issue 14 target ≤ 2×): ${verdict(cpu <= 2 * floorCpu)}`,
      );
    }
    const share = row.perSecond / row.floor.perSecond;
    console.log(
      `${row.name}: ${fixed(share * 100, 0)} % of the durable floor's throughput (issue 14 target ≥ 40 %): ${verdict(share >= 0.4)}`,
    );
  }
  if (profileDir) {
    for (const config of CONFIGS) {
      for (const role of new Set(config.roles)) {
        let files: string[] = [];
        try {
          files = profilesIn(join(profileDir, config.key, role));
        } catch {
          // No profile written (the process was killed).
        }
        for (const file of files) printProfileSummary(`${config.name} › ${role}`, summarizeCpuProfile(file));
      }
    }
    if (!process.env.BENCH_KEEP_PROFILES) rmSync(profileDir, { recursive: true, force: true });
    else console.log(`profiles kept in ${profileDir}`);
  }
  problems.print();
}

await runBenchmark(main);
