import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WebhookDeliveriesTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { toEventView } from '../events/event-recorder.js';
import { JOBS } from '../jobs/job-engine.js';
import { withJitter } from '../platform/backoff.js';
import type { ServiceDeps } from '../services.js';
import { signWebhook, WEBHOOK_SIGNATURE_HEADER } from './signature.js';
import { findEndpointRow, signingSecretsOf } from './webhook-endpoints.js';

/**
 * Delivery of recorded events to the host app's webhook endpoints: an organisation's own endpoints
 * (webhook-endpoints.ts), each signed with its secrets, and the Default organisation's WEBHOOK_URL, signed with
 * WEBHOOK_SECRET.
 *
 * Each event gets one `webhook_deliveries` row per endpoint, queued by the EventRecorder in the transaction that
 * recorded the event. The dispatcher claims due rows, POSTs the event, and records the outcome on the row (the delivery log):
 * 2xx → `delivered`; anything else, a network error or a timeout → another attempt later, on the schedule below,
 * until `failed`.
 *
 * Delivery is **at least once**: a receiver that answered 2xx after we timed out, or a worker that dies between the
 * POST and the UPDATE, means the same event arrives again. Receivers dedupe by `Mailbridge-Event-Id` (= the body's
 * `id`), and must verify `Mailbridge-Signature` (signature.ts) with a replay window, so a captured delivery cannot
 * be replayed later.
 */

export const WEBHOOK_EVENT_ID_HEADER = 'Mailbridge-Event-Id';
export const WEBHOOK_EVENT_TYPE_HEADER = 'Mailbridge-Event-Type';

/** How long one POST may take, connection included. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * Waits after the 1st, 2nd… failed attempt. Nine attempts span about 25 hours, so a receiver down for a working day
 * (a deploy gone wrong, an expired certificate) still gets every event once it is back.
 */
export const WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [
  30_000,
  2 * 60_000,
  10 * 60_000,
  60 * 60_000,
  6 * 60 * 60_000,
  6 * 60 * 60_000,
  6 * 60 * 60_000,
  6 * 60 * 60_000,
];
/** Attempts before a delivery is given up (`failed`): the first one plus one per retry delay. */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_MS.length + 1;
/** Each delay is multiplied by a random factor in [1 - JITTER, 1 + JITTER], so receivers are not hit in waves. */
export const WEBHOOK_RETRY_JITTER = 0.2;

/**
 * A claimed row's `next_attempt_at` is pushed this far ahead: no other worker picks it up while this one delivers.
 * Longer than the request timeout, so a lease only expires when its worker died; then the row is delivered again
 * (at least once).
 */
const LEASE_MS = 5 * 60_000;
/** Deliveries in flight at once within one call. */
const PARALLEL_DELIVERIES = 8;
const MAX_ERROR_LENGTH = 200;

export interface DeliverDueWebhooksOptions {
  /** At most this many deliveries are claimed (and attempted) by this call. */
  limit: number;
  /** The HTTP client (default: Node's fetch). */
  fetch?: typeof fetch;
  /** The per-request timeout (default WEBHOOK_TIMEOUT_MS); tests shorten it. */
  timeoutMs?: number;
  /** A number in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
  /** Only these deliveries (the job `webhook-delivery` names its own), each if it is due. */
  ids?: readonly string[];
}

type DeliveryRow = WebhookDeliveriesTable;

type AttemptOutcome =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string; retryAfterMs?: number };

/**
 * Attempts every due delivery (up to `limit`) once and records each outcome. Returns how many deliveries it
 * attempted; call again while that equals `limit`. Safe to run in several processes at once: a row is claimed by
 * one of them only (see `claimDueDeliveries`).
 */
export async function deliverDueWebhooks(deps: ServiceDeps, options: DeliverDueWebhooksOptions): Promise<number> {
  const claimed = await claimDueDeliveries(deps, options.limit, options.ids);
  if (claimed.length === 0) return 0;

  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const random = options.random ?? Math.random;
  const queue = [...claimed];
  const worker = async (): Promise<void> => {
    for (let claim = queue.shift(); claim; claim = queue.shift()) {
      await deliverOne(deps, claim, { send, timeoutMs, random });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_DELIVERIES, claimed.length) }, worker));
  return claimed.length;
}

/**
 * The worker's task: `deliverDueWebhooks` batch after batch while batches come back full, at most `batches` times.
 * Returns how many deliveries were attempted.
 */
export async function deliverWebhookBatches(
  deps: ServiceDeps,
  options: Omit<DeliverDueWebhooksOptions, 'limit'> & { limit: number; batches: number },
): Promise<number> {
  let total = 0;
  for (let batch = 0; batch < options.batches; batch++) {
    const attempted = await deliverDueWebhooks(deps, options);
    total += attempted;
    if (attempted < options.limit) break;
  }
  return total;
}

interface Claim {
  row: DeliveryRow;
  /** The `next_attempt_at` this worker wrote: the fencing value its result UPDATE must still find. */
  leaseUntil: number;
}

/**
 * Claims up to `limit` due rows in one statement: the UPDATE that selects them also pushes their `next_attempt_at`
 * past the lease, so a concurrent claim no longer sees them as due. On PostgreSQL the SELECT takes row locks with
 * SKIP LOCKED, so two workers claiming at the same instant take disjoint rows instead of the second waiting; the
 * UPDATE's own conditions are re-checked on the locked rows either way. SQLite runs one write at a time, so the
 * single statement is already atomic.
 *
 * The SELECT is a MATERIALIZED CTE, not `id IN (SELECT … LIMIT n)`: PostgreSQL may plan the latter as a nested-loop
 * semi-join that re-runs the subquery per outer row, and the LIMIT then claims every due row (seen in a test).
 */
async function claimDueDeliveries(deps: ServiceDeps, limit: number, ids?: readonly string[]): Promise<Claim[]> {
  if (ids !== undefined && ids.length === 0) return [];
  const now = deps.clock.now();
  const leaseUntil = now + LEASE_MS;
  const rows = await deps.db
    .with(
      (cte) => cte('due').materialized(),
      (db) =>
        db
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('status', '=', 'pending')
          .where('next_attempt_at', '<=', now)
          // WEBHOOK_URL's rows (no endpoint) wait while it is unset, for it to come back.
          .$if(!deps.config.webhook, (query) => query.where('endpoint_id', 'is not', null))
          .$if(ids !== undefined, (query) => query.where('id', 'in', [...(ids ?? [])]))
          .orderBy('next_attempt_at', 'asc')
          .limit(limit)
          .$if(deps.dialect === 'postgres', (query) => query.forUpdate().skipLocked()),
    )
    .updateTable('webhook_deliveries')
    .set({ next_attempt_at: leaseUntil })
    .where('id', 'in', (eb) => eb.selectFrom('due').select('due.id'))
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .returningAll()
    .execute();
  return rows.map((row) => ({ row, leaseUntil }));
}

interface Transport {
  send: typeof fetch;
  timeoutMs: number;
  random: () => number;
}

interface Target extends Transport {
  url: string;
  /** The current secret first; during a rotation's overlap the previous one too (both signatures are sent). */
  secrets: string[];
}

/**
 * Where a delivery goes now and what signs it: its endpoint's current URL and secrets, or WEBHOOK_URL for a row
 * without an endpoint. A deleted or disabled endpoint (or one whose secret cannot be opened) is a reason to give up.
 */
async function resolveTarget(
  deps: ServiceDeps,
  row: DeliveryRow,
): Promise<{ url: string; secrets: string[] } | { problem: string }> {
  if (row.endpoint_id === null) {
    const webhook = deps.config.webhook;
    if (!webhook) return { problem: 'WEBHOOK_URL is no longer set' };
    return { url: webhook.url, secrets: [webhook.secret.reveal()] };
  }
  const endpoint = await findEndpointRow(deps.db, row.endpoint_id);
  if (!endpoint) return { problem: 'the webhook endpoint was deleted' };
  if (Number(endpoint.enabled) !== 1) return { problem: 'the webhook endpoint is disabled' };
  try {
    return { url: endpoint.url, secrets: await signingSecretsOf(deps.db, deps.vault, endpoint, deps.clock.now()) };
  } catch (error) {
    deps.logger.error({ err: error, webhookEndpointId: endpoint.id }, 'webhook endpoint secret cannot be opened');
    return { problem: "the webhook endpoint's secret cannot be opened" };
  }
}

async function deliverOne(deps: ServiceDeps, claim: Claim, transport: Transport): Promise<void> {
  const { row } = claim;
  const event = await deps.db.selectFrom('events').selectAll().where('id', '=', row.event_id).executeTakeFirst();
  if (!event) {
    // The foreign key cascades, so this only happens if the event was deleted between the claim and now.
    await recordOutcome(deps.db, claim, {
      status: 'failed',
      attempts: row.attempts,
      next_attempt_at: null,
      last_error: 'the event no longer exists',
    });
    return;
  }

  const resolved = await resolveTarget(deps, row);
  if ('problem' in resolved) {
    await recordOutcome(deps.db, claim, {
      status: 'failed',
      attempts: row.attempts,
      next_attempt_at: null,
      last_status_code: null,
      last_error: resolved.problem,
    });
    return;
  }
  const target: Target = { ...transport, ...resolved };
  const body = JSON.stringify(toEventView(event));
  const outcome = await post(target, body, {
    eventId: event.id,
    eventType: event.type,
    timestampSeconds: Math.floor(deps.clock.now() / 1000),
  });

  const attempts = row.attempts + 1;
  const giveUp = attempts >= WEBHOOK_MAX_ATTEMPTS;
  deps.metrics.webhookDeliveries.inc({ outcome: outcome.ok ? 'delivered' : giveUp ? 'failed' : 'retry' });
  const now = deps.clock.now();
  const log = deps.logger.child({ webhookDeliveryId: row.id, eventId: event.id, eventType: event.type, attempts });
  if (outcome.ok) {
    const recorded = await recordOutcome(deps.db, claim, {
      status: 'delivered',
      attempts,
      next_attempt_at: null,
      last_status_code: outcome.statusCode,
      last_error: null,
      delivered_at: now,
      url: target.url,
    });
    if (recorded) log.info({ statusCode: outcome.statusCode }, 'webhook delivered');
    return;
  }

  const nextAttemptAt = giveUp ? null : now + retryDelayMs(attempts, outcome.retryAfterMs, target.random);
  // The retry's job is written with the outcome, so a retry is scheduled exactly when its row says so.
  const recorded = await withTransaction(deps.db, async (trx) => {
    const written = await recordOutcome(trx, claim, {
      status: giveUp ? 'failed' : 'pending',
      attempts,
      next_attempt_at: nextAttemptAt,
      last_status_code: outcome.statusCode,
      last_error: outcome.error,
      url: target.url,
    });
    if (written && nextAttemptAt !== null) {
      await deps.jobs.enqueue(
        trx,
        JOBS.webhookDelivery,
        { deliveryId: row.id },
        { singletonKey: row.id, startAfter: nextAttemptAt },
      );
    }
    return written;
  });
  if (!recorded) return;
  if (giveUp) {
    log.error({ statusCode: outcome.statusCode, error: outcome.error }, 'webhook delivery failed; giving up');
  } else {
    log.warn(
      { statusCode: outcome.statusCode, error: outcome.error, nextAttemptAt: new Date(nextAttemptAt ?? now) },
      'webhook delivery failed; will retry',
    );
  }
}

/**
 * Writes the attempt's outcome if this worker still holds the lease (status pending, `next_attempt_at` as claimed).
 * A worker whose lease ran out (it stalled for minutes) finds nothing to update: the row was claimed again and its
 * new holder's result is the one that counts.
 */
async function recordOutcome(
  db: Kysely<Database>,
  claim: Claim,
  changes: Partial<Omit<DeliveryRow, 'id' | 'event_id' | 'organization_id' | 'created_at'>>,
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set(changes)
    .where('id', '=', claim.row.id)
    .where('status', '=', 'pending')
    .where('next_attempt_at', '=', claim.leaseUntil)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

async function post(
  target: Target,
  body: string,
  meta: { eventId: string; eventType: string; timestampSeconds: number },
): Promise<AttemptOutcome> {
  let response: Response;
  try {
    response = await target.send(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'mailbridge-webhooks/1',
        [WEBHOOK_SIGNATURE_HEADER]: signWebhook(target.secrets, body, meta.timestampSeconds),
        [WEBHOOK_EVENT_ID_HEADER]: meta.eventId,
        [WEBHOOK_EVENT_TYPE_HEADER]: meta.eventType,
      },
      body,
      // A redirect is not followed: the signed body goes only where the operator said. A 3xx is a failed attempt.
      redirect: 'manual',
      signal: AbortSignal.timeout(target.timeoutMs),
    });
  } catch (error) {
    return { ok: false, statusCode: null, error: describeNetworkError(error, target.timeoutMs) };
  }
  // The receiver's answer body is not kept (it is the host app's, and could say anything); free the socket.
  await response.body?.cancel().catch(() => {
    // Cancelling a body the peer already closed can reject; the attempt's outcome is known either way.
  });
  if (response.status >= 200 && response.status < 300) return { ok: true, statusCode: response.status };
  const retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'));
  return {
    ok: false,
    statusCode: response.status,
    error: `HTTP ${response.status}`,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/** Short and free of secrets: the error's kind and system code, never a header, a body or the signing secret. */
function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `timeout: no answer within ${timeoutMs} ms`;
  }
  const cause = error instanceof Error ? error.cause : undefined;
  const code =
    cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  const what = code ?? (error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error');
  return `network error: ${what}`.slice(0, MAX_ERROR_LENGTH);
}

/** `Retry-After` in seconds (429/503 from the receiver); dates are ignored, the schedule applies then. */
function parseRetryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d{1,9}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

/**
 * The wait after the `attempts`-th failed attempt: the schedule's delay with jitter, at least what the receiver
 * asked for with Retry-After, at most the schedule's longest delay.
 */
export function retryDelayMs(attempts: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const index = Math.min(Math.max(attempts, 1), WEBHOOK_RETRY_DELAYS_MS.length) - 1;
  const base = WEBHOOK_RETRY_DELAYS_MS[index] ?? 0;
  const jittered = Math.round(withJitter(base, WEBHOOK_RETRY_JITTER, random));
  const longest = Math.max(...WEBHOOK_RETRY_DELAYS_MS);
  return Math.min(Math.max(jittered, retryAfterMs ?? 0), longest);
}
