import { createAccountListeners } from './accounts/account-listeners.js';
import { scansBouncesOf, scheduleBounceScan } from './bounces/bounce-scan.js';
import { bounceSweepWork } from './bounces/bounce-work.js';
import type { Config } from './config/config.js';
import { completeConnect } from './connect/connect-completion.js';
import { connectExpirySweepWork } from './connect/connect-expiry-work.js';
import { migrateToLatest } from './db/migrate.js';
import { type DatabaseHandle, openDatabase } from './db/open-database.js';
import { EventRecorder } from './events/event-recorder.js';
import { GraphClient } from './graph/graph-client.js';
import { BackgroundRegistry } from './jobs/background-registry.js';
import { InProcessJobEngine } from './jobs/in-process-engine.js';
import type { JobEngine } from './jobs/job-engine.js';
import { PgBossJobEngine } from './jobs/pg-boss-engine.js';
import { trackDatabaseState } from './metrics/database-state.js';
import { instrumentMicrosoftFetch } from './metrics/microsoft-fetch-metrics.js';
import { createServiceMetrics, type ServiceMetrics } from './metrics/service-metrics.js';
import { createMicrosoftFetch, type MicrosoftRoutes } from './microsoft/microsoft-routes.js';
import { createMicrosoftOAuthSource } from './microsoft/oauth-client.js';
import { ServiceLifecycle } from './ops/lifecycle.js';
import type { ProcessRole } from './ops/process-role.js';
import { releaseHeldMessages } from './outbox/held-messages.js';
import { createOutboxListeners } from './outbox/outbox-listeners.js';
import { outboxMailboxWork, outboxSweepWork } from './outbox/outbox-work.js';
import { type Clock, systemClock } from './platform/clock.js';
import type { Logger } from './platform/logger.js';
import type { Secret } from './platform/secret.js';
import { createSmtpProvider } from './providers/smtp-provider.js';
import type { MicrosoftConnection, ServiceDeps } from './services.js';
import { AccessTokenProvider } from './tokens/access-token-provider.js';
import { healthSweepWork } from './tokens/health-work.js';
import { hourlyMaintenanceWork, keepaliveSweepWork } from './tokens/keepalive-work.js';
import type { KeyRing } from './vault/key-ring.js';
import { assertKeyRingOpensData, TokenVault } from './vault/token-vault.js';
import { followAccountStatus, resumeOnReconnect, wakeSenderOfBounce } from './warmup/warmup-account-listeners.js';
import { warmupSweepWork } from './warmup/warmup-background.js';
import { webhookFanOut } from './webhooks/webhook-fan-out.js';
import { webhookDeliveryWork } from './webhooks/webhook-work.js';

export interface MicrosoftApp {
  clientId: string;
  clientSecret: Secret;
  tenant: string;
  routes: MicrosoftRoutes;
  mode: MicrosoftConnection['mode'];
}

export interface ComposeOptions {
  config: Config;
  logger: Logger;
  keyRing: KeyRing;
  microsoft: MicrosoftApp;
  clock?: Clock;
  /** An already-open database (tests); otherwise the configured one is opened (and closed by `close`). */
  database?: DatabaseHandle;
  /** What this process runs (a label of its metrics). Default `all`. */
  role?: ProcessRole;
  /** This process's metrics (default: a new registry per composed service, never a global one). */
  metrics?: ServiceMetrics;
  /**
   * The job engine: `auto` (default) is pg-boss on PostgreSQL and the in-process loop's nudges on SQLite;
   * `in-process` keeps PostgreSQL on the in-process loop too (tests that drive `startBackgroundWork` themselves).
   */
  jobs?: 'auto' | 'in-process';
}

/**
 * Every kind of background work (ARCHITECTURE.md): a feature declares its kinds in its own folder
 * and they are registered here. The order is the job worker's and the `runOnce()` sweeps' order.
 */
function backgroundRegistry(): BackgroundRegistry {
  return new BackgroundRegistry([
    outboxMailboxWork,
    outboxSweepWork,
    webhookDeliveryWork,
    keepaliveSweepWork,
    healthSweepWork,
    bounceSweepWork,
    connectExpirySweepWork,
    warmupSweepWork,
    hourlyMaintenanceWork,
  ]);
}

/**
 * Who reacts to whose changes, in the changing transaction (ARCHITECTURE.md). Order matters where two
 * record events: on a connection, held messages are released before the connect session's end is recorded.
 */
function registerListeners(deps: ServiceDeps): void {
  // An account that can send again (recovered, reconnected) gets the messages held for it.
  deps.accountListeners.statusChanged.add((trx, change) =>
    releaseHeldMessages(trx, deps, change.accountId).then(() => {}),
  );
  deps.accountListeners.connected.add((trx, connected) =>
    releaseHeldMessages(trx, deps, connected.accountId).then(() => {}),
  );
  deps.accountListeners.connected.add((trx, connected) => completeConnect(trx, deps, connected));
  // A Graph send: non-delivery reports arrive in the sender's Inbox, so it is read for a while.
  deps.outboxListeners.sentThroughGraph.add((trx, sent) => scheduleBounceScan(trx, sent.at, sent.account), {
    when: (sent) => scansBouncesOf(sent.account),
  });
  // Warm-up follows the account's standing (a grant that needs a person pauses it) and its messages' bounces.
  deps.accountListeners.statusChanged.add((trx, change) => followAccountStatus(trx, deps, change, deps.clock.now()));
  deps.accountListeners.connected.add((trx, connected) => resumeOnReconnect(trx, deps, connected));
  deps.outboxListeners.bounced.add((trx, bounced) => wakeSenderOfBounce(trx, bounced));
}

/**
 * Assembles the service's dependencies: the database (migrated), the vault (refusing a key ring that cannot open
 * the stored data), the event recorder, the Microsoft connection, and each long-lived service once (token provider,
 * Graph client, SMTP relay, lifecycle, the registry of background work). The one place that wires them; main.ts and
 * integration tests both come through here.
 */
export async function composeService(options: ComposeOptions): Promise<{ deps: ServiceDeps; close(): Promise<void> }> {
  const clock = options.clock ?? systemClock;
  const database = options.database ?? (await openDatabase(options.config.database));
  try {
    await migrateToLatest(database.db);
    await assertKeyRingOpensData(database.db, options.keyRing, clock);
  } catch (error) {
    if (!options.database) await database.close();
    throw error;
  }
  const background = backgroundRegistry();
  let jobs: JobEngine;
  try {
    jobs =
      database.dialect === 'postgres' && options.jobs !== 'in-process'
        ? await PgBossJobEngine.start({
            db: database.db,
            logger: options.logger,
            role: options.role ?? 'all',
            queues: background.kinds,
          })
        : new InProcessJobEngine({ clock });
  } catch (error) {
    if (!options.database) await database.close();
    throw error;
  }
  const metrics = options.metrics ?? createServiceMetrics({ role: options.role });
  trackDatabaseState(metrics, { db: database.db, clock, logger: options.logger });
  const fetchRouted = instrumentMicrosoftFetch(createMicrosoftFetch(options.microsoft.routes), metrics);
  const microsoft: MicrosoftConnection = {
    clientId: options.microsoft.clientId,
    clientSecret: options.microsoft.clientSecret,
    tenant: options.microsoft.tenant,
    routes: options.microsoft.routes,
    fetch: fetchRouted,
    mode: options.microsoft.mode,
    graphBaseUrl: 'https://graph.microsoft.com/v1.0',
    oauth: createMicrosoftOAuthSource({
      clientId: options.microsoft.clientId,
      clientSecret: options.microsoft.clientSecret,
      tenant: options.microsoft.tenant,
      fetch: fetchRouted,
      clock,
    }),
  };
  const deps: ServiceDeps = {
    config: options.config,
    db: database.db,
    dialect: database.dialect,
    clock,
    logger: options.logger,
    vault: new TokenVault({ keyRing: options.keyRing, clock }),
    events: new EventRecorder({
      clock,
      onRecorded: webhookFanOut({ clock, defaultWebhookUrl: options.config.webhook?.url, jobs }),
    }),
    microsoft,
    metrics,
    jobs,
    background,
    graph: new GraphClient({ baseUrl: microsoft.graphBaseUrl, fetch: microsoft.fetch }),
    smtp: options.config.smtp ? createSmtpProvider(options.config.smtp) : undefined,
    lifecycle: new ServiceLifecycle(),
    accountListeners: createAccountListeners(),
    outboxListeners: createOutboxListeners(),
    // The provider is built on the deps it belongs to (read once every other service above is in place).
    get tokens() {
      return tokens;
    },
  };
  const tokens = new AccessTokenProvider(deps);
  registerListeners(deps);
  return {
    deps,
    close: async () => {
      await jobs.stop();
      if (!options.database) await database.close();
    },
  };
}
