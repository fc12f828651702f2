import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { composeService, type MicrosoftApp } from './compose.js';
import type { Config } from './config/config.js';
import { loadConfig } from './config/load-config.js';
import { ensureFirstAdmin, type FirstAdminResult } from './dashboard-auth/first-admin.js';
import { type EmbeddedEmulator, startEmbeddedEmulator, withEmulatorRelay } from './dev/embedded-emulator.js';
import { REAL_MICROSOFT_ROUTES } from './microsoft/microsoft-routes.js';
import { shutdownGracefully } from './ops/graceful-shutdown.js';
import { METRICS_TOKEN_HINT } from './ops/ops-routes.js';
import { startOpsServer } from './ops/ops-server.js';
import type { ProcessRole } from './ops/process-role.js';
import { FileClock } from './platform/clock-file.js';
import { createLogger, type Logger } from './platform/logger.js';
import { resolveKeyRing } from './vault/resolve-key-ring.js';
import { startBackgroundForRole } from './worker/background-role.js';

export interface RunningService {
  app: FastifyInstance | undefined;
  url: string | undefined;
  /** The ops listener's URL (MAILBRIDGE_OPS_PORT), when one was opened. */
  opsUrl: string | undefined;
  /** The graceful shutdown (src/ops/graceful-shutdown.ts), bounded by MAILBRIDGE_SHUTDOWN_GRACE. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: reads the environment (the only place that does), starts the built-in Microsoft emulator
 * when no Microsoft app is configured, wires the service and starts HTTP and/or background work by role.
 */
export async function main(role: ProcessRole = 'all', env: NodeJS.ProcessEnv = process.env): Promise<RunningService> {
  const config = loadConfig(env);
  const logger = createLogger(config);
  for (const warning of config.warnings) logger.warn(warning);
  const { keyRing } = resolveKeyRing(config, logger);
  let embedded: EmbeddedEmulator | undefined;
  let microsoft: MicrosoftApp;
  if (config.microsoft.mode === 'emulator') {
    embedded = await startEmbeddedEmulator({
      dataDir: config.dataDir,
      publicUrl: config.publicUrl,
      onSaveError: (error) => logger.error({ err: error }, 'could not save the built-in emulator’s world (retrying)'),
    });
    microsoft = {
      clientId: embedded.clientId,
      clientSecret: embedded.clientSecret,
      tenant: config.microsoft.tenant,
      routes: { login: embedded.emulator.url, graph: embedded.emulator.url },
      mode: 'emulator',
    };
  } else {
    microsoft = {
      clientId: config.microsoft.clientId,
      clientSecret: config.microsoft.clientSecret,
      tenant: config.microsoft.tenant,
      routes: { login: config.microsoft.loginUrl, graph: config.microsoft.graphUrl },
      mode: 'microsoft',
    };
    if (microsoft.routes.login === REAL_MICROSOFT_ROUTES.login) logger.info('using Microsoft identity platform');
  }
  // In the demo, the default provider relays into the emulator's SMTP sink unless SMTP_URL is set.
  const serviceConfig = embedded ? withEmulatorRelay(config, embedded.smtpSink) : config;
  // A simulation's clock, which the configuration accepts only against an emulator on this machine (clock-file.ts).
  const clock = config.emulatorClockFile === undefined ? undefined : new FileClock(config.emulatorClockFile);
  if (clock) logger.warn({ file: config.emulatorClockFile }, 'the clock follows a simulation’s clock file');
  const composed = await composeService({ config: serviceConfig, logger, keyRing, microsoft, role, clock });
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  let firstAdmin: FirstAdminResult | undefined;
  if (role !== 'worker') {
    firstAdmin = await ensureFirstAdmin(composed.deps, config.admin);
    app = await buildApp(composed.deps);
    url = await app.listen({ port: config.port, host: '0.0.0.0' });
  }
  // The worker role never listens on PORT: its only listener is the ops one, when asked for.
  const ops =
    config.ops.opsPort === undefined ? undefined : await startOpsServer(composed.deps, { port: config.ops.opsPort });
  if (role === 'worker' && !ops)
    logger.info('no ops listener: set MAILBRIDGE_OPS_PORT to probe and scrape this worker');
  else if (!ops && !config.ops.metricsToken) logger.info(`/metrics and /readyz are off: ${METRICS_TOKEN_HINT}`);
  if (embedded && app) printDemoBanner(config, logger, embedded);
  if (firstAdmin?.kind === 'generated') printGeneratedAdmin(config, firstAdmin);
  // pg-boss jobs on PostgreSQL, the in-process loop on SQLite (src/jobs/background-role.ts).
  const worker = await startBackgroundForRole(composed.deps, role);
  logger.info({ role, url, opsUrl: ops?.url }, 'mailbridge started');
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= shutdownGracefully({
      deps: composed.deps,
      logger,
      app,
      opsApp: ops?.app,
      worker,
      graceMs: config.ops.shutdownGraceMs,
      closeResources: async () => {
        await composed.close();
        await embedded?.close();
        clock?.close();
      },
    }).then(() => undefined);
    return stopping;
  };
  return { app, url, opsUrl: ops?.url, stop };
}

function printDemoBanner(config: Config, logger: Logger, embedded: EmbeddedEmulator): void {
  logger.info({ emulator: embedded.emulator.url }, 'no Microsoft app configured: running the built-in emulator');
  const lines = [
    '',
    `mailbridge is running at ${config.publicUrl}`,
    '  No Microsoft app is configured (MICROSOFT_CLIENT_ID), so it runs against its built-in Microsoft emulator',
    `  at ${embedded.emulator.url}. Sign in to the dashboard at ${config.publicUrl}/dashboard, then "Add email account".`,
    '  Demo Microsoft accounts (password "demo-password"):',
    ...embedded.demoUsers.map(
      (user) => `    ${user.email.padEnd(22)} ${user.role}${user.note ? ` (${user.note})` : ''}`,
    ),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The generated first admin's password goes to stdout once, never to the log (logs are shipped and kept). */
function printGeneratedAdmin(config: Config, admin: { email: string; password: string }): void {
  const lines = [
    '',
    `Dashboard sign-in (${config.publicUrl}/dashboard/sign-in), shown only this once:`,
    `  email:    ${admin.email}`,
    `  password: ${admin.password}`,
    '  Keep it somewhere safe, or set MAILBRIDGE_ADMIN_EMAIL and MAILBRIDGE_ADMIN_PASSWORD and restart.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
