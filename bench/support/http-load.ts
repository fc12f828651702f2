import { Agent, request } from 'node:http';

/**
 * A closed-loop HTTP load generator for the benchmarks: keeps `concurrency` requests in flight over keep-alive
 * connections until `count` have completed, never more than `perMailbox` at once for one mailbox (Outlook's
 * 4-concurrent budget per app + mailbox, docs/graph.md §3.3), and records each request's latency. Loopback only.
 */

export interface LoadMailbox {
  /** Headers of every request for this mailbox (authorization, content-type, content-length). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface LoadTarget {
  /** Origin, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  path: string;
  mailboxes: LoadMailbox[];
}

export interface LoadOptions {
  count: number;
  concurrency: number;
  perMailbox: number;
  /** The run stops (and reports `timedOut`) when it takes longer than this. */
  timeoutMs: number;
}

export interface LoadResult {
  completed: number;
  elapsedMs: number;
  /** Latency of every request that got an answer, in milliseconds (unsorted). */
  latenciesMs: Float64Array;
  /** Answers by HTTP status. */
  statuses: Map<number, number>;
  /** Requests that failed without an answer (connection errors). */
  errors: number;
  firstError: string | null;
  timedOut: boolean;
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const url = new URL(target.origin);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
    throw new Error(`benchmarks run on loopback only, not ${url.hostname}`);
  }
  const mailboxes = target.mailboxes.length;
  if (mailboxes === 0) throw new Error('no mailboxes to send from');
  if (options.concurrency > mailboxes * options.perMailbox) {
    throw new Error(`concurrency ${options.concurrency} exceeds ${mailboxes} mailboxes × ${options.perMailbox}`);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const latencies = new Float64Array(options.count);
  const statuses = new Map<number, number>();
  const inFlight = new Uint16Array(mailboxes);
  let cursor = 0;
  let started = 0;
  let finished = 0;
  let answered = 0;
  let active = 0;
  let errors = 0;
  let firstError: string | null = null;
  let timedOut = false;

  /** The next mailbox, round robin, that has a free slot under its per-mailbox cap. */
  const pickMailbox = (): number => {
    for (let step = 0; step < mailboxes; step++) {
      const index = (cursor + step) % mailboxes;
      if (inFlight[index]! < options.perMailbox) {
        cursor = (index + 1) % mailboxes;
        return index;
      }
    }
    return -1;
  };

  const startedAt = performance.now();
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

    const done = (mailbox: number) => {
      active--;
      inFlight[mailbox]!--;
      finished++;
      if (finished >= options.count) finish();
      else if (!settled) launch();
    };

    const launch = () => {
      while (active < options.concurrency && started < options.count) {
        const mailbox = pickMailbox();
        if (mailbox < 0) return;
        const { headers, body } = target.mailboxes[mailbox]!;
        started++;
        active++;
        inFlight[mailbox]!++;
        const begin = performance.now();
        const outgoing = request(
          { agent, host: url.hostname, port: url.port, method: 'POST', path: target.path, headers },
          (response) => {
            response.resume();
            response.on('end', () => {
              latencies[answered++] = performance.now() - begin;
              const status = response.statusCode ?? 0;
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
              done(mailbox);
            });
          },
        );
        outgoing.on('error', (error) => {
          errors++;
          firstError ??= error.message;
          done(mailbox);
        });
        outgoing.end(body);
      }
    };
    launch();
  });
  const elapsedMs = performance.now() - startedAt;
  agent.destroy();
  return {
    completed: finished,
    elapsedMs,
    latenciesMs: latencies.subarray(0, answered),
    statuses,
    errors,
    firstError,
    timedOut,
  };
}

/** The `p`-quantile (0..1) of the latencies, nearest rank. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}
