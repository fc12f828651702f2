import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ProcessRole } from '../ops/process-role.js';

/**
 * The service's Prometheus instruments, one set per process (a `Registry` of its own, never prom-client's global
 * one), built in the composition root and passed in `ServiceDeps.metrics`. Counters and histograms are per process
 * (Prometheus sums them over instances); the gauges of database state (`trackDatabaseState`) are the same in every
 * process of one database, so sum them with `max by (state)`, not `sum`.
 *
 * Label values are closed sets (outcomes, endpoint kinds, statuses): never an id, an address or free text.
 */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** One per finished send attempt: sent | retry | failed | outcome_unknown | held. */
  readonly sends: Counter<'outcome'>;
  /** Graph requests by endpoint kind (`send_mail`, `create_draft`…) and HTTP status (`error`: no answer). */
  readonly graphRequestSeconds: Histogram<'endpoint' | 'status'>;
  /** Graph answers 429 and 503 (Microsoft throttling, docs/graph.md §3.3) by endpoint kind. */
  readonly graphThrottles: Counter<'endpoint' | 'status'>;
  /** Identity platform requests (token, discovery, jwks) by endpoint and HTTP status. */
  readonly identityRequestSeconds: Histogram<'endpoint' | 'status'>;
  /** Refresh-token grants by outcome (`ok`, or the account health it led to) and why (expiry, forced, keepalive). */
  readonly refreshes: Counter<'outcome' | 'reason'>;
  /** Webhook delivery attempts: delivered | retry | failed. */
  readonly webhookDeliveries: Counter<'outcome'>;
}

export interface ServiceMetricsOptions {
  role?: ProcessRole;
  /** Node's process metrics (CPU, memory, event loop, GC). Default true. */
  defaultMetrics?: boolean;
}

/** Latency buckets for Microsoft's endpoints: tens of ms on a good day, Graph's 30 s timeout on a bad one. */
const MICROSOFT_LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createServiceMetrics(options: ServiceMetricsOptions = {}): ServiceMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'mailbridge_process_info',
    help: 'Always 1; the role label says what this process runs (all, api, worker).',
    labelNames: ['role'],
    registers,
  }).set({ role: options.role ?? 'all' }, 1);
  return {
    registry,
    sends: new Counter({
      name: 'mailbridge_outbox_sends_total',
      help: 'Finished send attempts by outcome (sent, retry, failed, outcome_unknown, held).',
      labelNames: ['outcome'],
      registers,
    }),
    graphRequestSeconds: new Histogram({
      name: 'mailbridge_graph_request_duration_seconds',
      help: 'Microsoft Graph requests: time to the response headers, by endpoint kind and HTTP status.',
      labelNames: ['endpoint', 'status'],
      buckets: MICROSOFT_LATENCY_BUCKETS,
      registers,
    }),
    graphThrottles: new Counter({
      name: 'mailbridge_graph_throttled_total',
      help: 'Microsoft Graph answers 429 (throttled) and 503 (unavailable, Retry-After) by endpoint kind.',
      labelNames: ['endpoint', 'status'],
      registers,
    }),
    identityRequestSeconds: new Histogram({
      name: 'mailbridge_identity_request_duration_seconds',
      help: 'Microsoft identity platform requests (token, discovery, jwks): time to the response headers.',
      labelNames: ['endpoint', 'status'],
      buckets: MICROSOFT_LATENCY_BUCKETS,
      registers,
    }),
    refreshes: new Counter({
      name: 'mailbridge_token_refreshes_total',
      help: 'Refresh-token grants sent to Microsoft, by outcome (ok, or the account status it led to) and reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    }),
    webhookDeliveries: new Counter({
      name: 'mailbridge_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome (delivered, retry, failed).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
