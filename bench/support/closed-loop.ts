import { Agent, request } from 'node:http';

/**
 * A closed-loop HTTP client: keeps `concurrency` requests in flight over keep-alive connections until `count` have
 * been answered, each built by `build(index)` (so the path may differ per request, unlike `http-load.ts`), and
 * records each one's latency and status. Loopback only.
 */

export interface LoopRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface LoopResult {
  completed: number;
  elapsedMs: number;
  /** Wall-clock (Date.now) when the first request left and the last answer arrived. */
  startedAt: number;
  endedAt: number;
  latenciesMs: Float64Array;
  statuses: Map<number, number>;
  errors: number;
  firstError: string | null;
  timedOut: boolean;
  /** The answer bodies of requests whose status was not `expectStatus`, up to 5. */
  unexpected: string[];
}

export async function runClosedLoop(options: {
  origin: string;
  count: number;
  concurrency: number;
  timeoutMs: number;
  build: (index: number) => LoopRequest;
  expectStatus?: number;
}): Promise<LoopResult> {
  const url = new URL(options.origin);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
    throw new Error(`benchmarks run on loopback only, not ${url.hostname}`);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const latencies = new Float64Array(options.count);
  const statuses = new Map<number, number>();
  const unexpected: string[] = [];
  let started = 0;
  let finished = 0;
  let answered = 0;
  let errors = 0;
  let firstError: string | null = null;
  let timedOut = false;
  const startedAt = Date.now();
  const begin = performance.now();
  await new Promise<void>((resolve) => {
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve();
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      finish();
    }, options.timeoutMs);
    const done = () => {
      finished++;
      if (finished >= options.count) finish();
      else if (!settled) launch();
    };
    const launch = () => {
      while (started - finished < options.concurrency && started < options.count) {
        const { method, path, headers, body } = options.build(started);
        started++;
        const sentAt = performance.now();
        const outgoing = request({ agent, host: url.hostname, port: url.port, method, path, headers }, (response) => {
          const status = response.statusCode ?? 0;
          const keep = options.expectStatus !== undefined && status !== options.expectStatus && unexpected.length < 5;
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => {
            if (keep) chunks.push(chunk);
          });
          response.on('end', () => {
            latencies[answered++] = performance.now() - sentAt;
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (keep) unexpected.push(`${status} ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`);
            done();
          });
        });
        outgoing.on('error', (error) => {
          errors++;
          firstError ??= error.message;
          done();
        });
        outgoing.end(body);
      }
    };
    launch();
  });
  const elapsedMs = performance.now() - begin;
  agent.destroy();
  return {
    completed: finished,
    elapsedMs,
    startedAt,
    endedAt: startedAt + elapsedMs,
    latenciesMs: latencies.subarray(0, answered),
    statuses,
    errors,
    firstError,
    timedOut,
    unexpected,
  };
}
