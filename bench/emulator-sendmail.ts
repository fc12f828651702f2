import { type ChildProcess, fork } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchEmulatorReady } from './fixtures/emulator-process.js';
import { integerArg } from './support/args.js';
import { type LoadMailbox, type LoadResult, percentile, runLoad } from './support/http-load.js';
import { runBenchmark } from './support/report.js';

/**
 * How fast the emulator takes `POST /v1.0/me/sendMail` (issue 2: "fast enough never to be the bottleneck of our
 * benchmarks"). The emulator runs in a child process with 100 mailboxes and their tokens; its sending limits are
 * lifted through `PATCH /_emulator/settings`; this process drives a fixed number of sendMail requests at a fixed
 * concurrency (never more than 4 in flight per mailbox, Outlook's budget), after a warm-up, with
 * `saveToSentItems: false`, twice: recipients outside the emulated world (the outside sink) and inside it (another
 * organisation's mailbox, through the junk filter). The same client loop against a bare Node `http` server that
 * answers 202 at once is the floor, measured in the same run.
 *
 *   node --import tsx bench/emulator-sendmail.ts [--count 20000] [--warmup 2000] [--concurrency 64]
 *   npm run bench -- emulator
 */

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    mailboxes: { type: 'string', default: '100' },
    'timeout-seconds': { type: 'string', default: '180' },
  },
});

const COUNT = integerArg('count', args.count);
const WARMUP = integerArg('warmup', args.warmup, 0);
const CONCURRENCY = integerArg('concurrency', args.concurrency);
const MAILBOXES = integerArg('mailboxes', args.mailboxes);
const TIMEOUT_MS = integerArg('timeout-seconds', args['timeout-seconds']) * 1000;
/** Outlook's concurrency budget per app + mailbox (docs/graph.md §3.3); the emulator enforces it too. */
const PER_MAILBOX = 4;

interface Scenario {
  name: string;
  result: LoadResult;
  sorted: Float64Array;
  requestsPerSecond: number;
  expectedStatus: number;
  notes: string[];
}

function startChild<T>(fixture: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; ready: T }> {
  const child = fork(fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${fixture} did not start within 60 s`)), 60_000);
    child.once('message', (ready) => {
      clearTimeout(timer);
      resolve({ child, ready: ready as T });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${fixture} exited (${code}) before it was ready`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** One mailbox's request: its token, and a small text message to `recipient`. */
function sendMailRequest(token: string, recipient: string): LoadMailbox {
  const body = Buffer.from(
    JSON.stringify({
      message: {
        subject: 'Weekly report',
        body: { contentType: 'Text', content: 'Hello,\n\nthe figures for this week are attached below.\n\nRegards' },
        toRecipients: [{ emailAddress: { address: recipient } }],
      },
      saveToSentItems: false,
    }),
  );
  return {
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-length': String(body.length),
    },
    body,
  };
}

async function controlOrThrow(origin: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${origin}/_emulator${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} /_emulator${path}: ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

async function measure(
  name: string,
  origin: string,
  mailboxes: LoadMailbox[],
  expectedStatus: number,
): Promise<Scenario> {
  const target = { origin, path: '/v1.0/me/sendMail', mailboxes };
  const options = { concurrency: CONCURRENCY, perMailbox: PER_MAILBOX, timeoutMs: TIMEOUT_MS };
  if (WARMUP > 0) await runLoad(target, { ...options, count: WARMUP });
  const result = await runLoad(target, { ...options, count: COUNT });
  const sorted = Float64Array.from(result.latenciesMs).sort();
  const notes: string[] = [];
  const unexpected = [...result.statuses].filter(([status]) => status !== expectedStatus);
  if (result.timedOut) notes.push(`stopped after ${TIMEOUT_MS / 1000} s with ${result.completed} done`);
  if (result.errors > 0) notes.push(`${result.errors} connection errors (${result.firstError})`);
  for (const [status, times] of unexpected) notes.push(`${times} × HTTP ${status}`);
  return {
    name,
    result,
    sorted,
    requestsPerSecond: (result.completed / result.elapsedMs) * 1000,
    expectedStatus,
    notes,
  };
}

/** Lifts the limits that would otherwise cap the run (30 messages/min and 10,000 recipients/24 h per mailbox). */
async function liftSendingLimits(origin: string): Promise<void> {
  await controlOrThrow(origin, 'PATCH', '/settings', {
    limits: {
      requestsPer10Minutes: 10_000_000,
      exchange: { messagesPerMinute: 10_000_000, recipientsPer24h: 100_000_000 },
    },
  });
}

/** The emulator's own account of the run: every accepted send delivered, nothing throttled. */
async function checkEmulator(origin: string, scenario: Scenario, expectedDeliveries: number): Promise<void> {
  const overview = (await controlOrThrow(origin, 'GET', '')) as { counts: { deliveries: number; outside: number } };
  const usage = (await controlOrThrow(origin, 'GET', '/usage')) as {
    usage: Array<{ throttled: Record<string, number>; maxInFlight: number }>;
  };
  const throttled = usage.usage.reduce(
    (sum, entry) => sum + Object.values(entry.throttled).reduce((a, b) => a + b, 0),
    0,
  );
  const maxInFlight = Math.max(0, ...usage.usage.map((entry) => entry.maxInFlight));
  if (overview.counts.deliveries !== expectedDeliveries) {
    scenario.notes.push(`emulator logged ${overview.counts.deliveries} deliveries, expected ${expectedDeliveries}`);
  }
  if (throttled > 0) scenario.notes.push(`${throttled} requests throttled by the emulator`);
  if (maxInFlight > PER_MAILBOX) scenario.notes.push(`a mailbox had ${maxInFlight} requests in flight`);
}

function accepted(scenario: Scenario): number {
  return scenario.result.statuses.get(scenario.expectedStatus) ?? 0;
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

/** A Markdown table, aligned the way Biome formats Markdown, ready to paste into the README. */
function table(scenarios: Scenario[], baseline: Scenario): string {
  const header = ['Target', 'Requests', 'Requests/s', 'p50 ms', 'p99 ms', 'vs. bare server'];
  const rows = scenarios.map((scenario) => [
    scenario.name,
    String(scenario.result.completed),
    fixed(scenario.requestsPerSecond, 0),
    fixed(percentile(scenario.sorted, 0.5), 2),
    fixed(percentile(scenario.sorted, 0.99), 2),
    scenario === baseline ? '1.00' : fixed(scenario.requestsPerSecond / baseline.requestsPerSecond, 2),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  // The first column is text (left-aligned), the others numbers (right-aligned).
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  const rule = `| ${widths.map((width, column) => (column === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log('Emulator sendMail benchmark');
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
  );
  // Other work on the machine moves the figures; say how busy it was.
  console.log(`load average at start: ${loadavg()[0]!.toFixed(2)} (1 min)`);
  console.log(
    `run: ${COUNT} requests after ${WARMUP} warm-up, concurrency ${CONCURRENCY} (at most ${PER_MAILBOX} per mailbox), ${MAILBOXES} mailboxes, saveToSentItems false, loopback`,
  );

  const scenarios: Scenario[] = [];
  const emulatorEnv = { BENCH_MAILBOXES: String(MAILBOXES) };
  const outside = await startChild<BenchEmulatorReady>('emulator-process.ts', emulatorEnv);
  let baseline: Scenario;
  try {
    const outsideRequests = outside.ready.mailboxes.map((mailbox, index) =>
      sendMailRequest(mailbox.token, `recipient${index}@partner.example`),
    );

    const bare = await startChild<{ url: string }>('baseline-process.ts');
    try {
      baseline = await measure('bare Node http server (202 at once)', bare.ready.url, outsideRequests, 202);
      scenarios.push(baseline);
    } finally {
      await stopChild(bare.child);
    }

    await liftSendingLimits(outside.ready.url);
    const toOutside = await measure('emulator, recipients outside the world', outside.ready.url, outsideRequests, 202);
    await checkEmulator(outside.ready.url, toOutside, WARMUP + accepted(toOutside));
    scenarios.push(toOutside);
  } finally {
    await stopChild(outside.child);
  }

  // A fresh emulator, so the second run does not inherit the first one's mail.
  const inside = await startChild<BenchEmulatorReady>('emulator-process.ts', emulatorEnv);
  try {
    const { mailboxes } = inside.ready;
    // Each mailbox writes to its counterpart in the other organisation.
    const insideRequests = mailboxes.map((mailbox, index) =>
      sendMailRequest(mailbox.token, mailboxes[(index + Math.floor(mailboxes.length / 2)) % mailboxes.length]!.address),
    );
    await liftSendingLimits(inside.ready.url);
    const toInside = await measure('emulator, recipients inside the world', inside.ready.url, insideRequests, 202);
    await checkEmulator(inside.ready.url, toInside, WARMUP + accepted(toInside));
    scenarios.push(toInside);
  } finally {
    await stopChild(inside.child);
  }

  console.log('');
  console.log(table(scenarios, baseline));
  console.log(`load average at end: ${loadavg()[0]!.toFixed(2)} (1 min)`);
  const problems = scenarios.flatMap((scenario) => scenario.notes.map((note) => `${scenario.name}: ${note}`));
  if (problems.length > 0) {
    console.log('');
    for (const problem of problems) console.log(`PROBLEM ${problem}`);
    process.exitCode = 1;
  }
}

await runBenchmark(main);
