import type { Kysely } from 'kysely';
import type * as oidc from 'openid-client';
import type { AccountListeners } from './accounts/account-listeners.js';
import type { Config } from './config/config.js';
import type { Database, DbDialect } from './db/schema.js';
import type { EventRecorder } from './events/event-recorder.js';
import type { GraphClient } from './graph/graph-client.js';
import type { BackgroundRegistry } from './jobs/background-registry.js';
import type { JobEngine } from './jobs/job-engine.js';
import type { ServiceMetrics } from './metrics/service-metrics.js';
import type { MicrosoftRoutes } from './microsoft/microsoft-routes.js';
import type { ServiceLifecycle } from './ops/lifecycle.js';
import type { OutboxListeners } from './outbox/outbox-listeners.js';
import type { Clock } from './platform/clock.js';
import type { Logger } from './platform/logger.js';
import type { Secret } from './platform/secret.js';
import type { SmtpProvider } from './providers/smtp-provider.js';
import type { AccessTokenProvider } from './tokens/access-token-provider.js';
import type { TokenVault } from './vault/token-vault.js';

/** How this service reaches Microsoft (or the emulator standing in for it). */
export interface MicrosoftConnection {
  readonly clientId: string;
  readonly clientSecret: Secret;
  /** `common`, `organizations`, `consumers`, a tenant id or domain (MICROSOFT_TENANT). */
  readonly tenant: string;
  /** Where Microsoft's hosts are served; the browser is sent to `routes.login` for sign-in. */
  readonly routes: MicrosoftRoutes;
  /** The routed transport for every back-channel call (identity and Graph). */
  readonly fetch: typeof fetch;
  /** The openid-client configuration, discovered once on first use. */
  readonly oauth: () => Promise<oidc.Configuration>;
  /** `https://graph.microsoft.com/v1.0` (routed by `fetch`). */
  readonly graphBaseUrl: string;
  /** `emulator` when the built-in emulator stands in for Microsoft (the demo, tests). */
  readonly mode: 'emulator' | 'microsoft';
}

/**
 * Everything the HTTP app and the workers are built from. Assembled once in the composition root (main.ts) or by
 * a test; no module reads the environment or builds its own connections.
 */
export interface ServiceDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly dialect: DbDialect;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly vault: TokenVault;
  readonly events: EventRecorder;
  readonly microsoft: MicrosoftConnection;
  /** This process's Prometheus instruments (`src/metrics/`): one registry per composed service. */
  readonly metrics: ServiceMetrics;
  /**
   * Where background work is asked for (`src/jobs/`): pg-boss on PostgreSQL (jobs enqueued in the caller's
   * transaction), the in-process loop's nudges on SQLite.
   */
  readonly jobs: JobEngine;
  /** Every kind of background work, as the features declared it (src/jobs/background-kind.ts); both runners read it. */
  readonly background: BackgroundRegistry;
  /**
   * The long-lived services, built once by the composition root (src/compose.ts) and shared by every caller: the
   * token provider (one per service, so its single-flight refresh covers the outbox, the workers and the routes),
   * the Graph client, the default provider's SMTP relay (undefined without SMTP_URL), and where the service is in its
   * life (readiness, shutdown).
   */
  readonly tokens: AccessTokenProvider;
  readonly graph: GraphClient;
  readonly smtp: SmtpProvider | undefined;
  readonly lifecycle: ServiceLifecycle;
  /**
   * Who hears of a change inside its transaction (src/platform/listeners.ts), registered at composition: the
   * account's status and connections (owned by src/accounts/), the outbox's Graph sends.
   */
  readonly accountListeners: AccountListeners;
  readonly outboxListeners: OutboxListeners;
}
