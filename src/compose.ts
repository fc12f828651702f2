import type { Config } from './config/config.js';
import type { Secret } from './config/secret.js';
import { migrateToLatest } from './db/migrate.js';
import { type DatabaseHandle, openDatabase } from './db/open-database.js';
import { EventRecorder } from './events/event-recorder.js';
import { InProcessJobEngine } from './jobs/in-process-engine.js';
import type { JobEngine } from './jobs/job-engine.js';
import { PgBossJobEngine } from './jobs/pg-boss-engine.js';
import { trackDatabaseState } from './metrics/database-state.js';
import { instrumentMicrosoftFetch } from './metrics/microsoft-fetch-metrics.js';
import { createServiceMetrics, type ServiceMetrics } from './metrics/service-metrics.js';
import { createMicrosoftFetch, type MicrosoftRoutes } from './microsoft/microsoft-routes.js';
import { createMicrosoftOAuthSource } from './microsoft/oauth-client.js';
import type { ProcessRole } from './ops/process-role.js';
import { type Clock, systemClock } from './platform/clock.js';
import type { Logger } from './platform/logger.js';
import type { MicrosoftConnection, ServiceDeps } from './services.js';
import type { KeyRing } from './vault/key-ring.js';
import { assertKeyRingOpensData, TokenVault } from './vault/token-vault.js';

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
 * Assembles the service's dependencies: the database (migrated), the vault (refusing a key ring that cannot open
 * the stored data), the event recorder and the Microsoft connection. The one place that wires them; main.ts and
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
  let jobs: JobEngine;
  try {
    jobs =
      database.dialect === 'postgres' && options.jobs !== 'in-process'
        ? await PgBossJobEngine.start({ db: database.db, logger: options.logger, role: options.role ?? 'all' })
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
    events: new EventRecorder({ clock, defaultWebhookUrl: options.config.webhook?.url, jobs }),
    microsoft,
    metrics,
    jobs,
  };
  return {
    deps,
    close: async () => {
      await jobs.stop();
      if (!options.database) await database.close();
    },
  };
}
