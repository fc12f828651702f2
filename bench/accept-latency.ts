import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { upsertConnectedAccount } from '../src/accounts/upsert-connected-account.js';
import { composeService } from '../src/compose.js';
import { loadConfig } from '../src/config/load-config.js';
import { createApiKey } from '../src/orgs/api-keys.js';
import { createOrganization } from '../src/orgs/organizations.js';
import { createLogger } from '../src/platform/logger.js';
import { Secret } from '../src/platform/secret.js';
import { parseKeyRingOrThrow } from '../src/vault/key-ring.js';
import { PlaintextSecret } from '../src/vault/secret-types.js';
import { freePort } from '../test/support/ports.js';
import type { BenchEmulatorReady } from './fixtures/emulator-process.js';
import { integerArg } from './support/args.js';
import { percentile } from './support/http-load.js';
import { stopMailbridge, waitForHealth } from './support/processes.js';
import { runBenchmark } from './support/report.js';

/**
 * How long `POST /v1/accounts/{id}/messages` takes to answer 202 (accepted = committed to the outbox) at a fixed
 * offered load (issue 5: p99 under 10 ms at 500 requests/s on SQLite). Open loop: requests leave on a fixed
 * schedule whether or not earlier ones were answered, and each latency is counted from when its request was due to
 * leave, so a stall shows in the figures instead of slowing the load (no coordinated omission).
 *
 * The service runs in its own process on a fresh SQLite file with 100 mailboxes connected (stored as the connect flow
 * stores them, with access tokens the emulator minted), once per role: `mailbridge start` (HTTP and its background
 * worker, which sends the accepted mail to the emulator meanwhile at the per-mailbox pace) and `mailbridge api` (HTTP
 * only: the accept path alone). The emulator runs in a third process. Baseline, same process, same run, same load:
 * `GET /healthz`. With --profile, the service writes a V8 CPU profile and the self time by function is printed.
 *
 * The client keeps its connections alive and opens another (up to --connections) whenever all of its connections wait
 * for an answer, as Node's own HTTP clients do. Each scenario reports how many it opened: a stall of the service makes
 * the client open many at once, and Node's server accepts one new connection per turn of its event loop
 * (docs/engineering.md §T), so a busy service takes seconds to accept them.
 *
 *   node --import tsx bench/accept-latency.ts [--rate 500] [--seconds 20] [--warmup-seconds 3] [--roles start,api]
 *     [--connections 512] [--log-level info] [--profile]
 *   npm run bench -- accept-latency
 */

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    'warmup-seconds': { type: 'string', default: '3' },
    mailboxes: { type: 'string', default: '100' },
    /** The roles to measure, one after the other, each on its own database: `start` (HTTP + worker), `api`. */
    roles: { type: 'string', default: 'start,api' },
    /** The most connections the client opens to the service at once. */
    connections: { type: 'string', default: '512' },
    'log-level': { type: 'string', default: 'info' },
    /** Write a V8 CPU profile of the service and print where its time went (self time by function). */
    profile: { type: 'boolean', default: false },
  },
});

const RATE = integerArg('rate', args.rate);
const SECONDS = integerArg('seconds', args.seconds);
const WARMUP_SECONDS = integerArg('warmup-seconds', args['warmup-seconds'], 0);
const MAILBOXES = integerArg('mailboxes', args.mailboxes);
const CONNECTIONS = integerArg('connections', args.connections);
type Role = 'start' | 'api';
const ROLES: Role[] = (args.roles ?? 'start,api').split(',').map((role) => {
  if (role !== 'start' && role !== 'api') throw new Error(`--roles takes start and/or api, not "${role}"`);
  return role;
});
const LOG_LEVEL = args['log-level'] ?? 'info';
const PROFILE = args.profile === true;

// ---- processes -----------------------------------------------------------------------------------------------------

function startEmulator(): Promise<{ child: ChildProcess; ready: BenchEmulatorReady }> {
  const child = fork(fileURLToPath(new URL('./fixtures/emulator-process.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_MAILBOXES: String(MAILBOXES) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the emulator did not start within 60 s')), 60_000);
    child.once('message', (ready) => {
      clearTimeout(timer);
      resolve({ child, ready: ready as BenchEmulatorReady });
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code}) before it was ready`)));
  });
}

// ---- the open-loop load --------------------------------------------------------------------------------------------

interface Shot {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface OpenLoopResult {
  sent: number;
  /** Latency of each answered request from its scheduled start, ms. */
  latencies: Float64Array;
  statuses: Map<number, number>;
  errors: number;
  firstError: string | null;
  /** The most a request left after its scheduled time (the generator's own lag), ms. */
  maxDispatchLagMs: number;
  /** Connections the client opened to the service. */
  connectionsOpened: number;
  elapsedMs: number;
}

async function openLoop(
  origin: string,
  shot: (index: number) => Shot,
  rate: number,
  seconds: number,
): Promise<OpenLoopResult> {
  const url = new URL(origin);
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS });
  const sockets = new WeakSet<Socket>();
  let connectionsOpened = 0;
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  const latencies = new Float64Array(total);
  const statuses = new Map<number, number>();
  let answered = 0;
  let finished = 0;
  let errors = 0;
  let firstError: string | null = null;
  let maxDispatchLagMs = 0;
  let next = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const done = () => {
      finished++;
      if (finished === total) resolve();
    };
    const fire = (index: number, scheduledAt: number) => {
      const { method, path, headers, body } = shot(index);
      maxDispatchLagMs = Math.max(maxDispatchLagMs, performance.now() - scheduledAt);
      const outgoing = request({ agent, host: url.hostname, port: url.port, method, path, headers }, (response) => {
        response.resume();
        response.on('end', () => {
          latencies[answered++] = performance.now() - scheduledAt;
          const status = response.statusCode ?? 0;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          done();
        });
      });
      outgoing.on('socket', (socket) => {
        if (sockets.has(socket)) return;
        sockets.add(socket);
        connectionsOpened++;
      });
      outgoing.on('error', (error) => {
        errors++;
        firstError ??= error.message;
        done();
      });
      outgoing.end(body);
    };
    const tick = () => {
      const now = performance.now();
      while (next < total && started + next * intervalMs <= now) {
        fire(next, started + next * intervalMs);
        next++;
      }
      if (next < total) setTimeout(tick, Math.max(0, started + next * intervalMs - performance.now()));
    };
    tick();
  });
  const elapsedMs = performance.now() - started;
  agent.destroy();
  return {
    sent: total,
    latencies: latencies.subarray(0, answered),
    statuses,
    errors,
    firstError,
    maxDispatchLagMs,
    connectionsOpened,
    elapsedMs,
  };
}

// ---- report --------------------------------------------------------------------------------------------------------

interface Scenario {
  name: string;
  result: OpenLoopResult;
  sorted: Float64Array;
  expected: number;
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

function table(runs: RoleRun[]): string {
  const header = [
    'Target',
    'Requests',
    'Offered/s',
    'Answered/s',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'max ms',
    'p99 vs. baseline',
    'Connections',
  ];
  const rows = runs.flatMap((run) =>
    run.scenarios.map((scenario) => {
      const p99 = percentile(scenario.sorted, 0.99);
      return [
        scenario.name,
        String(scenario.result.sent),
        String(RATE),
        fixed((scenario.sorted.length / scenario.result.elapsedMs) * 1000, 0),
        fixed(percentile(scenario.sorted, 0.5), 2),
        fixed(p99, 2),
        fixed(percentile(scenario.sorted, 0.999), 2),
        fixed(scenario.sorted.at(-1) ?? Number.NaN, 2),
        scenario === run.baseline ? '1.00' : fixed(p99 / percentile(run.baseline.sorted, 0.99), 2),
        String(scenario.result.connectionsOpened),
      ];
    }),
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  const rule = `| ${widths.map((width, column) => (column === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

// ---- profile -------------------------------------------------------------------------------------------------------

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time by function over the service's whole life (start-up included), from its V8 CPU profile. */
function printProfile(role: Role, profileDir: string): void {
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) {
    console.log('profile: no .cpuprofile was written');
    return;
  }
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const selfMs = new Map<string, number>();
  /** Time under the nearest function of ours (src/, emulator/ excluded): what our code spent, libraries included. */
  const oursMs = new Map<string, number>();
  let totalMs = 0;
  for (const [index, nodeId] of profile.samples.entries()) {
    const frame = frames.get(nodeId);
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    totalMs += ms;
    if (!frame) continue;
    const where = frame.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
    const key = `${frame.functionName || '(anonymous)'} ${where ? `${where}:${frame.lineNumber + 1}` : ''}`.trim();
    selfMs.set(key, (selfMs.get(key) ?? 0) + ms);
    for (let id: number | undefined = nodeId; id !== undefined; id = parents.get(id)) {
      const caller = frames.get(id);
      const path = caller?.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '') ?? '';
      if (caller && path.startsWith('src/')) {
        const label = `${caller.functionName || '(anonymous)'} ${path}:${caller.lineNumber + 1}`;
        oursMs.set(label, (oursMs.get(label) ?? 0) + ms);
        break;
      }
    }
  }
  const busyMs = totalMs - (selfMs.get('(idle)') ?? 0);
  console.log('');
  console.log(
    `profile of mailbridge ${role} (${file}): ${(busyMs / 1000).toFixed(1)} s busy of ${(totalMs / 1000).toFixed(1)} s; self time, top 20:`,
  );
  const top = [...selfMs]
    .filter(([key]) => key !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20);
  for (const [key, ms] of top) console.log(`  ${((ms / busyMs) * 100).toFixed(1).padStart(5)} %  ${key}`);
  console.log('time under the nearest function in src/ (libraries and SQLite included), top 15:');
  const ours = [...oursMs].sort((a, b) => b[1] - a[1]).slice(0, 15);
  for (const [key, ms] of ours) console.log(`  ${((ms / busyMs) * 100).toFixed(1).padStart(5)} %  ${key}`);
}

// ---- the service's own figures ----------------------------------------------------------------------------------

const METRICS_TOKEN = randomBytes(24).toString('hex');

interface ProcessFigures {
  at: number;
  cpuSeconds: number;
  /** The event loop's largest delay since the previous scrape (prom-client resets it per scrape). */
  eventLoopMaxMs: number;
  majorGc: { count: number; sum: number };
}

/** The service's process metrics from its own /metrics (prom-client's defaults). */
async function processFigures(origin: string): Promise<ProcessFigures> {
  const at = performance.now() / 1000;
  const response = await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await response.text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  return {
    at,
    cpuSeconds: value(/^process_cpu_seconds_total (\S+)$/m),
    eventLoopMaxMs: value(/^nodejs_eventloop_lag_max_seconds (\S+)$/m) * 1000,
    majorGc: {
      count: value(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m) || 0,
      sum: value(/^nodejs_gc_duration_seconds_sum\{kind="major"\} (\S+)$/m) || 0,
    },
  };
}

// ---- one role ------------------------------------------------------------------------------------------------------

interface RoleRun {
  role: Role;
  scenarios: Scenario[];
  baseline: Scenario;
  outbox: Array<{ status: string; n: number }>;
  problems: string[];
  notes: string[];
}

/** A fresh SQLite database with the mailboxes connected, a `mailbridge <role>` on it, the two measurements. */
async function runRole(role: Role, emulator: BenchEmulatorReady): Promise<RoleRun> {
  const dir = mkdtempSync(join(tmpdir(), 'mailbridge-bench-accept-'));
  let service: ChildProcess | undefined;
  try {
    const keys = `bench:${randomBytes(32).toString('base64')}`;
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const env = {
      PORT: String(port),
      PUBLIC_URL: origin,
      DATABASE_URL: `sqlite:${join(dir, 'mailbridge.db')}`,
      MAILBRIDGE_KEYS: keys,
      // A real Microsoft app's configuration, its hosts served by the emulator (no embedded emulator in the service).
      MICROSOFT_CLIENT_ID: randomUUID(),
      MICROSOFT_CLIENT_SECRET: `bench~${randomBytes(16).toString('base64url')}`,
      MICROSOFT_LOGIN_URL: emulator.url,
      MICROSOFT_GRAPH_URL: emulator.url,
      MAILBRIDGE_ADMIN_EMAIL: 'admin@bench.example',
      MAILBRIDGE_ADMIN_PASSWORD: 'bench-admin-password',
      // To read the service's own process metrics (CPU, event loop delay, GC) around the measured sends.
      MAILBRIDGE_METRICS_TOKEN: METRICS_TOKEN,
      LOG_LEVEL,
    };
    const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
    const compose = () =>
      composeService({
        config,
        logger: createLogger(config),
        keyRing: parseKeyRingOrThrow(keys),
        microsoft: {
          clientId: env.MICROSOFT_CLIENT_ID,
          clientSecret: new Secret(env.MICROSOFT_CLIENT_SECRET),
          tenant: 'common',
          routes: { login: emulator.url, graph: emulator.url },
          mode: 'microsoft',
        },
      });

    // Seed the database the service will open: an organisation, its API key and the connected mailboxes.
    const seeder = await compose();
    const organization = await createOrganization(seeder.deps.db, seeder.deps.clock, { name: 'Bench' });
    const apiKey = await createApiKey(seeder.deps.db, seeder.deps.clock, organization.id, 'bench');
    const accountIds: string[] = [];
    for (const [index, mailbox] of emulator.mailboxes.entries()) {
      const result = await upsertConnectedAccount(seeder.deps, {
        organizationId: organization.id,
        ownerExternalId: `owner-${index}`,
        permissionProfile: 'send',
        grantedScopes: ['User.Read', 'Mail.Send', 'offline_access'],
        identity: { tenantId: randomUUID(), objectId: randomUUID(), email: mailbox.address, displayName: null },
        tokens: {
          accessToken: PlaintextSecret.from(mailbox.token),
          refreshToken: PlaintextSecret.from(`M.C5bench${randomBytes(24).toString('base64url')}`),
          expiresInSeconds: 3600,
        },
      });
      accountIds.push(result.accountId);
    }
    await seeder.close();

    const profileDir = join(dir, 'profile');
    const profiling = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    service = spawn(process.execPath, [...profiling, '--import', 'tsx', cli, role], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      // The service logs every request at LOG_LEVEL=info, as in production; the lines go nowhere here.
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitForHealth(origin, service, { name: `mailbridge ${role}`, timeoutMs: 60_000 });

    const body = Buffer.from(
      JSON.stringify({
        to: 'Partner <partner@partner.example>',
        subject: 'Weekly report',
        text: 'Hello,\n\nthe figures for this week are below.\n\nRegards',
      }),
    );
    const post = (index: number): Shot => ({
      method: 'POST',
      path: `/v1/accounts/${accountIds[index % accountIds.length]}/messages`,
      headers: {
        authorization: `Bearer ${apiKey.key}`,
        'content-type': 'application/json',
        'content-length': String(body.length),
      },
      body,
    });
    const health = (): Shot => ({ method: 'GET', path: '/healthz', headers: {} });

    const scenarios: Scenario[] = [];
    const measure = async (name: string, shot: (index: number) => Shot, expected: number) => {
      const result = await openLoop(origin, shot, RATE, SECONDS);
      const scenario = { name, result, sorted: Float64Array.from(result.latencies).sort(), expected };
      scenarios.push(scenario);
      return scenario;
    };
    // The baseline first, while the worker has nothing to send; then the sends, while it sends what was accepted.
    if (WARMUP_SECONDS > 0) await openLoop(origin, health, RATE, WARMUP_SECONDS);
    const baseline = await measure(`${role}: GET /healthz (baseline)`, health, 200);
    const before = await processFigures(origin);
    let warmupAccepted = 0;
    if (WARMUP_SECONDS > 0)
      warmupAccepted = (await openLoop(origin, post, RATE, WARMUP_SECONDS)).statuses.get(202) ?? 0;
    const sends = await measure(`${role}: POST /v1/accounts/{id}/messages`, post, 202);
    const afterSends = await processFigures(origin);

    const exit = await stopMailbridge({ child: service });
    const check = await compose();
    const outbox = (
      await check.deps.db
        .selectFrom('outbox_messages')
        .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute()
    ).map((row) => ({ status: row.status, n: Number(row.n) }));
    await check.close();

    const problems: string[] = [];
    const notes: string[] = [];
    for (const scenario of scenarios) {
      const { result } = scenario;
      for (const [status, count] of result.statuses) {
        if (status !== scenario.expected) problems.push(`${scenario.name}: ${count} × HTTP ${status}`);
      }
      if (result.errors > 0)
        problems.push(`${scenario.name}: ${result.errors} connection errors (${result.firstError})`);
      if (result.maxDispatchLagMs > 5) {
        notes.push(
          `${scenario.name}: the load generator ran up to ${fixed(result.maxDispatchLagMs, 1)} ms late (counted in the latencies)`,
        );
      }
    }
    const cpuSeconds = afterSends.cpuSeconds - before.cpuSeconds;
    const wallSeconds = afterSends.at - before.at;
    notes.push(
      `${role}: during the sends (warm-up included) the service used ${fixed((cpuSeconds / wallSeconds) * 100, 0)} % of one core; ` +
        `its event loop was delayed up to ${fixed(afterSends.eventLoopMaxMs, 0)} ms; ` +
        `GC: ${afterSends.majorGc.count - before.majorGc.count} major pauses, ${fixed((afterSends.majorGc.sum - before.majorGc.sum) * 1000, 0)} ms in all`,
    );
    const stored = outbox.reduce((sum, row) => sum + row.n, 0);
    const accepted = warmupAccepted + (sends.result.statuses.get(202) ?? 0);
    if (stored !== accepted) problems.push(`${role}: the outbox holds ${stored} messages, ${accepted} were accepted`);
    if (exit !== 0) problems.push(`${role}: the service exited ${exit} after SIGTERM`);
    if (PROFILE) printProfile(role, profileDir);
    return { role, scenarios, baseline, outbox, problems, notes };
  } finally {
    if (service && service.exitCode === null) service.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ----------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cpu = cpus();
  console.log('Accept latency benchmark');
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
  );
  console.log(`load average at start: ${loadavg()[0]!.toFixed(2)} (1 min)`);
  console.log(
    `run: open loop at ${RATE} requests/s for ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up, at most ${CONNECTIONS} connections, per role (${ROLES.join(', ')}) on a fresh SQLite file (LOG_LEVEL=${LOG_LEVEL}), ${MAILBOXES} connected mailboxes, loopback`,
  );
  const emulator = await startEmulator();
  const runs: RoleRun[] = [];
  try {
    for (const role of ROLES) runs.push(await runRole(role, emulator.ready));
  } finally {
    emulator.child.disconnect();
  }
  console.log('');
  console.log(table(runs));
  console.log(`load average at end: ${loadavg()[0]!.toFixed(2)} (1 min)`);
  for (const run of runs) {
    console.log(
      `${run.role}: outbox after the run: ${run.outbox.map((row) => `${row.status} ${row.n}`).join(', ')}${run.role === 'start' ? ' (its worker sends at the per-mailbox pace meanwhile)' : ' (nothing sends)'}`,
    );
  }
  const notes = runs.flatMap((run) => run.notes);
  for (const note of notes) console.log(`note: ${note}`);
  const problems = runs.flatMap((run) => run.problems);
  for (const problem of problems) console.log(`PROBLEM ${problem}`);
  if (problems.length > 0) process.exitCode = 1;
}

await runBenchmark(main);
