import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { relative } from 'node:path';
import { settleWithin } from '../../src/platform/settle-within.js';

/**
 * Names what a test file is stuck on, before the runner's per-test timeout ends it without a word. Loaded into every
 * test process by scripts/run-tests.mjs (`--import`); test/support/service.ts adds what only it can look at.
 *
 * It watches the HTTP requests of the process, both ends: the ones it sends (fetch) and the ones its servers (the
 * service, the emulator) answer. When one has waited `STALL_MS`, it writes once to stderr: every request still
 * waiting with its age, the process's active resources, and what each registered probe says (for a test service:
 * whether its database still answers). Paths only: a query string can hold a code or a state, which are never
 * printed.
 */

/** Well below the runner's 180 s per test (scripts/run-tests.mjs), above any request of a passing test. */
const STALL_MS = 60_000;
const CHECK_EVERY_MS = 5_000;
/** A probe that does not answer in this time is reported as such (a probe of a stuck database must not hang too). */
const PROBE_MS = 3_000;

interface Waiting {
  what: string;
  since: number;
  reported: boolean;
}

const waiting = new Set<Waiting>();
const probes = new Map<string, () => Promise<string>>();

/**
 * Adds a probe (what a stalled test should also say: "service database: answers") until the returned function
 * removes it.
 */
export function registerStallProbe(name: string, probe: () => Promise<string>): () => void {
  probes.set(name, probe);
  return () => probes.delete(name);
}

watchRequests();

/** Starts watching: once per process, when this module is first loaded. */
function watchRequests(): void {
  const sent = new WeakMap<object, Waiting>();
  subscribe('undici:request:create', (message) => {
    const { request } = message as { request: { method: string; origin: string; path: string } };
    const entry = track(`fetch ${request.method} ${request.origin}${pathOnly(request.path)}: no answer yet`);
    sent.set(request, entry);
  });
  const answered = (message: unknown) => {
    const { request } = message as { request: object };
    const entry = sent.get(request);
    if (entry) waiting.delete(entry);
  };
  subscribe('undici:request:headers', answered);
  subscribe('undici:request:error', answered);
  subscribe('http.server.request.start', (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
    const address = request.socket.localAddress ? `${request.socket.localAddress}:${request.socket.localPort}` : '';
    const entry = track(`server ${address} ${request.method} ${pathOnly(request.url ?? '')}: handler not done`);
    // `close` also comes when the client goes away first: then nobody waits any more.
    response.once('close', () => waiting.delete(entry));
  });
  setInterval(() => void reportStalls(), CHECK_EVERY_MS).unref();
}

function track(what: string): Waiting {
  const entry = { what, since: Date.now(), reported: false };
  waiting.add(entry);
  return entry;
}

function pathOnly(path: string): string {
  const query = path.indexOf('?');
  return query < 0 ? path : `${path.slice(0, query)}?…`;
}

async function reportStalls(): Promise<void> {
  const now = Date.now();
  const fresh = [...waiting].filter((entry) => !entry.reported && now - entry.since >= STALL_MS);
  if (fresh.length === 0) return;
  for (const entry of fresh) entry.reported = true;
  // In a test process argv[1] is the test file: the runner's output names the test that then times out.
  const file = relative(process.cwd(), process.argv[1] ?? '');
  const lines = [
    `stall report, ${file} (pid ${process.pid}, ${new Date(now).toISOString()}): waiting ≥ ${STALL_MS} ms`,
  ];
  for (const entry of [...waiting].sort((a, b) => a.since - b.since)) {
    lines.push(`  ${Math.round((now - entry.since) / 1000)} s  ${entry.what}`);
  }
  lines.push(`  active resources: ${summarize(process.getActiveResourcesInfo())}`);
  for (const [name, probe] of probes) lines.push(`  ${name}: ${await answerWithin(probe)}`);
  process.stderr.write(`${lines.join('\n')}\n`);
}

function summarize(resources: string[]): string {
  const counts = new Map<string, number>();
  for (const resource of resources) counts.set(resource, (counts.get(resource) ?? 0) + 1);
  return [...counts].map(([name, count]) => `${name}×${count}`).join(', ');
}

function answerWithin(probe: () => Promise<string>): Promise<string> {
  const answer = probe().catch((error: unknown) => `failed: ${String(error)}`);
  return settleWithin(PROBE_MS, answer, () => `no answer in ${PROBE_MS} ms`);
}
