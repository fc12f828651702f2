import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { EmulatorOptions } from '../../emulator/index.js';
import { buildApp } from '../../src/app.js';
import { composeService } from '../../src/compose.js';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { DbDialect } from '../../src/db/schema.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import type { Clock } from '../../src/platform/clock.js';
import { createLogger, type Logger } from '../../src/platform/logger.js';
import { Secret } from '../../src/platform/secret.js';
import { settleWithin } from '../../src/platform/settle-within.js';
import type { ServiceDeps } from '../../src/services.js';
import { parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { openTestDatabase, type TestDatabase } from './databases.js';
import { type SeededEmulator, startSeededEmulator } from './emulator.js';
import { freePort } from './ports.js';
import { registerStallProbe } from './stall-report.js';
import { StatementTracker } from './statement-tracker.js';

export interface TestService {
  /** The service's own origin (`http://127.0.0.1:<port>`), also its PUBLIC_URL. */
  url: string;
  app: FastifyInstance;
  deps: ServiceDeps;
  config: Config;
  database: TestDatabase;
  /** The emulator standing in for login.microsoftonline.com and graph.microsoft.com. */
  emulator: SeededEmulator;
  /** Everything the service logged, one JSON line each (for "no secret in the logs" scans). */
  logLines: string[];
  /** The vault's key ring as MAILBRIDGE_KEYS text (`id:base64`), for scans that look for the key material. */
  keyText: string;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  dialect?: DbDialect;
  /** Extra environment for loadConfig (e.g. WEBHOOK_URL). */
  env?: Record<string, string>;
  clock?: Clock;
  emulator?: EmulatorOptions;
  /** An already-running emulator to share (its app must list this service's redirect URIs: see below). */
  sharedEmulator?: SeededEmulator;
  tenant?: string;
  /**
   * The job engine (src/jobs/): `in-process` by default, on both dialects (tests drive `startBackgroundWork` or the
   * dispatcher themselves); `auto` is what production composes: pg-boss on PostgreSQL.
   */
  jobs?: 'auto' | 'in-process';
}

/**
 * A real mailbridge on a real port, over a real database (SQLite or PostgreSQL), talking over real HTTP to an
 * emulator that impersonates Microsoft's hosts (the service routes them to it). The emulator's demo app is
 * registered with this service's callback URLs.
 */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const emulator =
    options.sharedEmulator ??
    (await startSeededEmulator({
      ...options.emulator,
      urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
      redirectUris: [`${url}/connect/callback`, `${url}/connect/admin-consent/callback`],
    }));
  // What has started, to stop in reverse order: after a failed start (an open emulator or pool would keep the test
  // process alive) and on close.
  const started: Array<[step: string, stop: () => Promise<unknown>]> = [];
  if (!options.sharedEmulator) started.push(['the emulator closing', () => emulator.close()]);
  const stopStarted = async (): Promise<void> => {
    let failure: unknown;
    for (const [step, stop] of [...started].reverse()) {
      // Each step bounded and named: a step that never ends fails the test's hook saying which one, instead of
      // holding the whole file until the runner's file timeout kills it without a word. A failed step does not
      // keep the later ones from running.
      await withinStep(step, stop()).catch((error: unknown) => {
        failure ??= error;
      });
    }
    started.length = 0;
    if (failure !== undefined) throw failure;
  };
  try {
    const database = await openTestDatabase(options.dialect ?? 'sqlite');
    started.push(['the database closing', () => database.close()]);
    const keyText = `test:${randomBytes(32).toString('base64')}`;
    const config = loadConfig({
      PORT: String(port),
      PUBLIC_URL: url,
      MAILBRIDGE_DATA_DIR: '/nonexistent-test-data-dir',
      MAILBRIDGE_KEYS: keyText,
      LOG_LEVEL: 'info',
      ...options.env,
    });
    const logLines: string[] = [];
    const statements = new StatementTracker();
    const logger: Logger = createLogger(config, {
      destination: { write: (line: string) => void logLines.push(line) },
    });
    const composed = await withinStep(
      'the service composing (migrations, job engine)',
      composeService({
        config,
        logger,
        keyRing: parseKeyRingOrThrow(keyText),
        clock: options.clock,
        // The service's statements pass a tracker (its last ones, for a stall report); tests read `database` as is.
        database: { ...database, db: database.db.withPlugin(statements) },
        jobs: options.jobs ?? 'in-process',
        microsoft: {
          clientId: emulator.seed.app.clientId,
          clientSecret: new Secret(emulator.clientSecret),
          tenant: options.tenant ?? 'common',
          routes: { login: emulator.url, graph: emulator.url },
          mode: 'emulator',
        },
      }),
    );
    started.push(['the job engine stopping', () => composed.close()]);
    const removeProbe = registerStallProbe(`test service ${url}`, () =>
      describeService(database, statements, logLines),
    );
    started.push(['the stall probe leaving', async () => removeProbe()]);
    const app = await buildApp(composed.deps);
    started.push(['the HTTP server closing', () => app.close()]);
    await app.listen({ port, host: '127.0.0.1' });
    return {
      url,
      app,
      deps: composed.deps,
      config,
      database,
      emulator,
      logLines,
      keyText,
      close: stopStarted,
    };
  } catch (error) {
    await stopStarted().catch(() => {
      // The start's own error is the one to report.
    });
    throw error;
  }
}

/**
 * For a stalled test (stall-report.ts): whether the database still answers, the service's last statements, and what
 * it said last.
 */
async function describeService(
  database: TestDatabase,
  statements: StatementTracker,
  logLines: readonly string[],
): Promise<string> {
  const answer = sql`select 1`.execute(database.db).then(
    () => 'answers',
    (error: unknown) => `fails (${String(error)})`,
  );
  // SQLite has one connection per process: a transaction that never ends, or a query on the outer `db` inside one
  // (src/db/transaction.ts), leaves every later statement waiting for it.
  const db = await settleWithin(
    PROBE_DB_MS,
    answer,
    () => `does not answer in ${PROBE_DB_MS} ms: its connection is held`,
  );
  const said = logLines.slice(-5).map((line) => {
    try {
      return String((JSON.parse(line) as { msg?: unknown }).msg);
    } catch {
      return line.slice(0, 200);
    }
  });
  return `${database.dialect} database ${db}; ${statements.describe()}; last log messages: ${JSON.stringify(said)}`;
}

const PROBE_DB_MS = 2_000;
const STEP_TIMEOUT_MS = 60_000;

/** `work`, or an error naming the step if it has not settled within a minute (it never takes more than seconds). */
async function withinStep<T>(step: string, work: Promise<T>): Promise<T> {
  const settled = await settleWithin(
    STEP_TIMEOUT_MS,
    work.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    () => undefined,
  );
  if (settled === undefined) throw new Error(`test service: ${step} did not finish in ${STEP_TIMEOUT_MS} ms`);
  if ('error' in settled) throw settled.error;
  return settled.value;
}
