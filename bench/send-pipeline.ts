import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { FleetEmulatorReady, FleetEmulatorStats, MintedUser } from './fixtures/fleet-emulator-process.js';
import { chosenConfigs, integerArg } from './support/args.js';
import { type BenchDatabase, counterDelta, createBenchDatabase, postgresCounters } from './support/bench-database.js';
import { runClosedLoop } from './support/closed-loop.js';
import { printProfileSummary, profilesIn, summarizeCpuProfile } from './support/cpu-profile.js';
import { benchServiceEnv, composeBenchService, newBenchCredentials, seedFleet } from './support/fleet.js';
import { type LoadMailbox, runLoad } from './support/http-load.js';
import {
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
 * The send pipeline (issue 5 item 5): `--messages` messages over `--mailboxes` connected mailboxes through the API
 * (`POST /v1/accounts/{id}/messages` → outbox → Graph `sendMail` → sent), against the bare loop a user would
 * otherwise write: the same number of direct `POST /v1.0/me/sendMail` calls with the same concurrency against the
 * same emulator, no persistence. Configurations: SQLite (`mailbridge start`, one process), PostgreSQL with one API
 * process and 1 worker process, and with 2 worker processes. Target: ≥ 50 % of the bare loop's throughput on SQLite
 * and on PostgreSQL with 2 workers.
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
 *   loop sends in rounds of at most 50 messages (src/outbox/dispatcher.ts `runOutboxRounds`); a PostgreSQL worker
 *   process runs up to 16 mailbox jobs at once, each with up to 4 sends in flight (src/jobs/job-worker.ts, the
 *   per-mailbox concurrency): 64 per worker process. The bare loop runs at 50, 64 and 128.
 *
 *   node --import tsx bench/send-pipeline.ts [--messages 10000] [--mailboxes 1000] [--submit-concurrency 50]
 *     [--configs sqlite,pg1,pg2] [--microsoft-latency-ms 0] [--profile] [--timeout-seconds 900]
 *   npm run bench -- send-pipeline
 */

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    mailboxes: { type: 'string', default: '1000' },
    'submit-concurrency': { type: 'string', default: '50' },
    configs: { type: 'string', default: 'sqlite,pg1,pg2' },
    profile: { type: 'boolean', default: false },
    'microsoft-latency-ms': { type: 'string', default: '0' },
    'timeout-seconds': { type: 'string', default: '900' },
  },
});

const MESSAGES = integerArg('messages', args.messages);
const MAILBOXES = integerArg('mailboxes', args.mailboxes);
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
  /** Whether issue 5 sets a target for it. */
  target: boolean;
}

/** SQLite's in-process loop: rounds of at most 50 messages (src/outbox/dispatcher.ts `runOutboxRounds`). */
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
  /** Extra figures for the notes under the table. */
  note: string;
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
    note: `${name}: ${result.completed} requests in ${fixed(result.elapsedMs / 1000, 2)} s`,
  };
}

async function pipeline(
  config: PipelineConfig,
  emulator: Fixture<FleetEmulatorReady>,
  credentials: ReturnType<typeof newBenchCredentials>,
  baseline: Row,
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
    const cpuBefore = services.map((service) => cpuSeconds(service.child.pid!));

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
      const row = await seeder.deps.db
        .selectFrom('outbox_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', 'in', ['queued', 'sending'])
        .executeTakeFirstOrThrow();
      pending = Number(row.n);
    }
    if (pending > 0) problems.add(`${config.name}: ${pending} messages still queued or sending at the deadline`);
    const cpuAfter = services.map((service) => cpuSeconds(service.child.pid!));
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
    const cpu = services
      .map((service, index) => `${service.role} ${fixed(cpuAfter[index]! - cpuBefore[index]!, 1)} s`)
      .join(', ');
    const perMessage = (value: number) => fixed(value / Math.max(1, sent.length), 1);
    const statements = services
      .map(
        (service, index) =>
          `${service.role} ${perMessage(totalStatements(probesAfter[index]!.statements) - totalStatements(probesBefore[index]!.statements))}`,
      )
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
      note:
        `${config.name}: API accepted ${accepted} in ${fixed(submitted.elapsedMs / 1000, 2)} s ` +
        `(${fixed((accepted / submitted.elapsedMs) * 1000, 0)}/s, POST p50 ${fixed(quantile(Float64Array.from(submitted.latenciesMs).sort(), 0.5), 1)} ms); ` +
        `last sent ${fixed((lastSent - submitted.endedAt) / 1000, 2)} s after the last POST; ` +
        `Graph sendMail 202: ${acceptedByGraph}, token requests: ${Object.values(stats.tokenRequests).reduce((a, b) => a + b, 0)}, ` +
        `messages retried: ${retried}; CPU seconds during the run: ${cpu}; SQL statements per message: ${statements}${databaseNote}`,
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
      rows.push(await pipeline(config, emulator, credentials, baselines.get(config.sendConcurrency)!, profileDir));
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
      ['Pipeline', 'Messages', 'Seconds', 'Messages/s', 'p50 ms', 'p99 ms', 'vs. bare loop'],
      rows.map((row) => [
        row.name,
        String(row.messages),
        fixed(row.seconds, 2),
        fixed(row.perSecond, 0),
        fixed(row.p50, 1),
        fixed(row.p99, 1),
        row.baseline ? fixed(row.perSecond / row.baseline.perSecond, 2) : '1.00',
      ]),
    ),
  );
  console.log('');
  console.log('p50/p99: bare loop, each sendMail request; pipeline, accept (created_at) → sent (sent_at).');
  for (const row of rows) console.log(`- ${row.note}`);
  console.log(loadLine('end'));
  for (const row of rows) {
    if (!row.baseline) continue;
    const ratio = row.perSecond / row.baseline.perSecond;
    const config = CONFIGS.find((candidate) => candidate.name === row.name);
    if (!config) continue;
    const target = !config.target ? 'no target' : ratio >= 0.5 ? 'target met' : 'TARGET MISSED';
    console.log(`${row.name}: ${fixed(ratio * 100, 0)} % of the bare loop (target ≥ 50 %): ${target}`);
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
