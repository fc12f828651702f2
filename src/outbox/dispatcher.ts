import { hostname } from 'node:os';
import type { SmtpConfig } from '../config/config.js';
import { GraphClient } from '../graph/graph-client.js';
import { randomToken } from '../platform/ids.js';
import { createSmtpProvider, type SmtpProvider } from '../providers/smtp-provider.js';
import type { ServiceDeps } from '../services.js';
import { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { type AccessTokenSource, deliverThroughGraph } from './graph-delivery.js';
import { sweepHeldMessages } from './held-messages.js';
import { DEFAULT_LANE } from './message-target.js';
import { type Claim, claimLane, lanesWithDueWork } from './pacing.js';
import { deliverThroughSmtp } from './smtp-delivery.js';

/**
 * The outbox dispatcher (issue 4 items 3–5). One call is one round:
 * 1. housekeeping of held messages (hold, release, expire; `sweepHeldMessages`);
 * 2. lanes (mailboxes) with due work, least recently served first;
 * 3. per lane, an atomic claim within its budgets (`claimLane`: concurrency, per minute, per 24 h, Retry-After), at
 *    most `perLane` messages so no mailbox's backlog delays another's message;
 * 4. the claimed messages are sent concurrently (each message's own requests in order), and each attempt ends with
 *    its outcome written, fenced by its lease.
 * Safe to run in any number of workers and processes on PostgreSQL (row locks, SKIP LOCKED, leases); on SQLite in
 * one process. Returns how many messages it worked on; a caller loops while that is positive, and waits otherwise.
 */

export interface DispatchOptions {
  /** At most this many messages in this round, over all lanes (default 20). */
  limit?: number;
  /** Who holds the leases taken in this round (a process or worker id; default: host + pid + random). */
  workerId?: string;
  /** At most this many messages per lane per round (default: the per-mailbox concurrency). */
  perLane?: number;
  /** How long a claim lasts without renewal (default 2 minutes; renewed before every request). */
  leaseMs?: number;
  /** After an unknown outcome, wait this long before looking for the message in Sent Items (default 30 s). */
  lookupDelayMs?: number;
  /** A message is failed (`retries_exhausted`) after this many attempts (default 50). */
  maxAttempts?: number;
  /** The token provider (default: one `AccessTokenProvider` shared per `deps`). */
  tokens?: AccessTokenSource;
  /** Per Graph request (default 30 s). */
  graphTimeoutMs?: number;
}

const sharedTokens = new WeakMap<ServiceDeps, AccessTokenSource>();
const sharedGraph = new WeakMap<ServiceDeps, Map<number, GraphClient>>();
const sharedSmtp = new WeakMap<SmtpConfig, SmtpProvider>();

/** The process's token provider for these deps (one, so its single-flight refresh covers every worker). */
export function outboxTokenSource(deps: ServiceDeps): AccessTokenSource {
  let tokens = sharedTokens.get(deps);
  if (!tokens) {
    tokens = new AccessTokenProvider(deps);
    sharedTokens.set(deps, tokens);
  }
  return tokens;
}

function graphClient(deps: ServiceDeps, timeoutMs: number): GraphClient {
  let byTimeout = sharedGraph.get(deps);
  if (!byTimeout) {
    byTimeout = new Map();
    sharedGraph.set(deps, byTimeout);
  }
  let client = byTimeout.get(timeoutMs);
  if (!client) {
    client = new GraphClient({ baseUrl: deps.microsoft.graphBaseUrl, fetch: deps.microsoft.fetch, timeoutMs });
    byTimeout.set(timeoutMs, client);
  }
  return client;
}

function smtpProvider(deps: ServiceDeps): SmtpProvider | undefined {
  const config = deps.config.smtp;
  if (!config) return undefined;
  let provider = sharedSmtp.get(config);
  if (!provider) {
    provider = createSmtpProvider(config);
    sharedSmtp.set(config, provider);
  }
  return provider;
}

/** A worker id for leases: which host and process holds a message, readable in the database. */
export function newWorkerId(): string {
  return `${hostname().slice(0, 40)}:${process.pid}:${randomToken(16).slice(0, 8)}`;
}

export async function dispatchDueMessages(deps: ServiceDeps, options: DispatchOptions = {}): Promise<number> {
  const limit = options.limit ?? 20;
  const workerId = options.workerId ?? newWorkerId();
  const perLane = Math.max(1, options.perLane ?? deps.config.outbox.mailboxConcurrency);
  const leaseMs = options.leaseMs ?? 120_000;
  const maxAttempts = options.maxAttempts ?? 50;

  await sweepHeldMessages(deps);

  const lanes = await lanesWithDueWork(deps.db, deps.clock.now(), limit);
  const claims: Claim[] = [];
  for (const lane of lanes) {
    const room = limit - claims.length;
    if (room <= 0) break;
    claims.push(...(await claimLane(deps, lane, { workerId, leaseMs, max: Math.min(perLane, room) })));
  }
  if (claims.length === 0) return 0;

  const graphContext = {
    tokens: options.tokens ?? outboxTokenSource(deps),
    graph: graphClient(deps, options.graphTimeoutMs ?? 30_000),
    lookupDelayMs: options.lookupDelayMs ?? 30_000,
    maxAttempts,
  };
  const smtpContext = { provider: smtpProvider(deps), maxAttempts };
  await Promise.all(
    claims.map(async (claim) => {
      try {
        if (claim.message.lane === DEFAULT_LANE) await deliverThroughSmtp(deps, claim, smtpContext);
        else await deliverThroughGraph(deps, claim, graphContext);
      } catch (error) {
        // A bug or the database failing mid-attempt: the lease expires and recovery takes the message again,
        // treating a request that may have left as an unknown outcome. Nothing is lost.
        deps.logger.error({ err: error, messageId: claim.message.id }, 'outbox: attempt failed unexpectedly');
      }
    }),
  );
  return claims.length;
}

/** This process's lease owner for the background loop's rounds. */
const processWorkerId = newWorkerId();

/**
 * The background loop's outbox task: dispatcher rounds until nothing is due or `maxRounds` ran (so the loop's other
 * tasks still get their turn), sharing the loop's token provider.
 */
export async function runOutboxRounds(
  deps: ServiceDeps,
  options: { tokens?: AccessTokenSource; maxRounds?: number; limit?: number } = {},
): Promise<number> {
  let total = 0;
  for (let round = 0; round < (options.maxRounds ?? 20); round++) {
    const count = await dispatchDueMessages(deps, {
      workerId: processWorkerId,
      limit: options.limit ?? 50,
      ...(options.tokens ? { tokens: options.tokens } : {}),
    });
    total += count;
    if (count === 0) break;
  }
  return total;
}
