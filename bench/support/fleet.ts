import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type ComposeOptions, composeService } from '../../src/compose.js';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load-config.js';
import { graphScopes, type PermissionProfile } from '../../src/connect/permission-profiles.js';
import type { Database } from '../../src/db/schema.js';
import type { AccountsTable } from '../../src/db/tables/accounts.js';
import { withTransaction } from '../../src/db/transaction.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import type { Clock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { createLogger } from '../../src/platform/logger.js';
import type { ServiceDeps } from '../../src/services.js';
import { type LifecycleColumns, lifecycleColumnsAfterGrant } from '../../src/tokens/lifecycle-policy.js';
import { storeAccountTokens } from '../../src/vault/account-tokens.js';
import { parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';
import type { FleetEmulatorReady, MintedUser } from '../fixtures/fleet-emulator-process.js';
import type { Fixture } from './processes.js';

/**
 * A fleet of connected mailboxes for the benchmarks. Connecting 1,000–100,000 mailboxes through the real browser
 * flow would take hours, so accounts are seeded straight into the service's database: the emulator (in its own
 * process) mints, for each emulated user, the access and refresh tokens a finished sign-in would have given
 * (`issueAccessToken`, `issueRefreshToken`), and this process — opening the same database through
 * `composeService`, with the same key ring — writes the account row and seals the tokens with the service's vault
 * (`storeAccountTokens`), as the connect flow's `upsertConnectedAccount` does minus its events.
 */

/** The environment of every mailbridge process of a run (and of the seeding, with LOG_LEVEL silent). */
export interface BenchServiceSettings {
  emulatorUrl: string;
  clientId: string;
  clientSecret: string;
  databaseUrl: string;
  keys: string;
  /** More variables (MAILBRIDGE_MAILBOX_*, LOG_LEVEL…). */
  extra?: Record<string, string>;
}

export function newBenchCredentials(): { clientId: string; clientSecret: string; keys: string } {
  return {
    clientId: randomUUID(),
    clientSecret: `bench~${randomBytes(24).toString('base64url')}`,
    keys: `bench:${randomBytes(32).toString('base64')}`,
  };
}

export function benchServiceEnv(settings: BenchServiceSettings): Record<string, string> {
  return {
    DATABASE_URL: settings.databaseUrl,
    MAILBRIDGE_KEYS: settings.keys,
    // A real Microsoft app's configuration whose hosts the emulator serves (no embedded emulator in the service).
    MICROSOFT_CLIENT_ID: settings.clientId,
    MICROSOFT_CLIENT_SECRET: settings.clientSecret,
    MICROSOFT_LOGIN_URL: settings.emulatorUrl,
    MICROSOFT_GRAPH_URL: settings.emulatorUrl,
    PUBLIC_URL: 'http://127.0.0.1:3999',
    MAILBRIDGE_ADMIN_EMAIL: 'admin@bench.example',
    MAILBRIDGE_ADMIN_PASSWORD: 'bench-admin-password',
    LOG_LEVEL: 'warn',
    ...settings.extra,
  };
}

/**
 * The service's dependencies on the run's database, composed as `main.ts` composes them (migrates on open), except
 * that the job engine is the in-process one unless `jobs: 'auto'` is asked for: the bench's own connections (seeding,
 * polling, worker-like drivers) must not run pg-boss's supervision and cron alongside the processes measured.
 */
export async function composeBenchService(
  env: Record<string, string>,
  options: Pick<ComposeOptions, 'clock' | 'database' | 'role' | 'jobs'> = {},
): Promise<{ deps: ServiceDeps; close(): Promise<void>; config: Config }> {
  const config = loadConfig(env);
  if (config.microsoft.mode !== 'microsoft') throw new Error('the bench service needs a Microsoft app configuration');
  const composed = await composeService({
    config,
    logger: createLogger(config),
    keyRing: parseKeyRingOrThrow(env.MAILBRIDGE_KEYS!),
    microsoft: {
      clientId: config.microsoft.clientId,
      clientSecret: config.microsoft.clientSecret,
      tenant: config.microsoft.tenant,
      routes: { login: config.microsoft.loginUrl, graph: config.microsoft.graphUrl },
      mode: 'microsoft',
    },
    jobs: 'in-process',
    ...options,
  });
  return { ...composed, config };
}

export interface SeededFleet {
  organizationId: string;
  apiKey: string;
  /** In the emulator's user order. */
  accountIds: string[];
  emails: string[];
  seedSeconds: number;
}

export interface SeedOptions {
  count: number;
  /** The schedule columns of account `index` (default: as after a grant now). */
  schedule?: (index: number, minted: MintedUser, now: number) => LifecycleColumns;
  /** Accounts per transaction. */
  batchSize?: number;
  /** Transactions at once (PostgreSQL; SQLite has one connection). */
  parallel?: number;
  /** The permission profile the accounts were connected with (default `send`; the emulator must mint its scopes). */
  profile?: PermissionProfile;
  onProgress?: (done: number) => void;
}

/** Mints tokens for the first `count` emulated users and stores them as connected accounts of one organisation. */
export async function seedFleet(
  deps: ServiceDeps,
  emulator: Fixture<FleetEmulatorReady>,
  options: SeedOptions,
): Promise<SeededFleet> {
  const started = performance.now();
  const { db, clock } = deps;
  const organization = await createOrganization(db, clock, { name: 'Bench' });
  const apiKey = await createApiKey(db, clock, organization.id, 'bench');
  const batchSize = options.batchSize ?? 250;
  const parallel = deps.dialect === 'postgres' ? (options.parallel ?? 4) : 1;
  const accountIds: string[] = new Array(options.count);
  const emails: string[] = new Array(options.count);
  const mintChunk = 5_000;
  let done = 0;
  for (let from = 0; from < options.count; from += mintChunk) {
    const minted = await emulator.request<MintedUser[]>('mint', {
      from,
      count: Math.min(mintChunk, options.count - from),
    });
    const batches: MintedUser[][] = [];
    for (let start = 0; start < minted.length; start += batchSize) batches.push(minted.slice(start, start + batchSize));
    let next = 0;
    const lane = async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const ids = await withTransaction(db, (trx) => insertAccounts(trx, deps, organization.id, batch, options));
        batch.forEach((user, position) => {
          accountIds[user.index] = ids[position]!;
          emails[user.index] = user.email;
        });
        done += batch.length;
        options.onProgress?.(done);
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
  }
  return {
    organizationId: organization.id,
    apiKey: apiKey.key,
    accountIds,
    emails,
    seedSeconds: (performance.now() - started) / 1000,
  };
}

async function insertAccounts(
  trx: Kysely<Database>,
  deps: Pick<ServiceDeps, 'vault' | 'clock'>,
  organizationId: string,
  batch: MintedUser[],
  { schedule, profile = 'send' }: Pick<SeedOptions, 'schedule' | 'profile'>,
): Promise<string[]> {
  const clock: Clock = deps.clock;
  const now = clock.now();
  const owners = batch.map((user) => ({
    id: newId('own', clock),
    organization_id: organizationId,
    external_id: `owner-${user.index}`,
    email_provider: 'microsoft' as const,
    created_at: now,
    updated_at: now,
  }));
  await trx.insertInto('owners').values(owners).execute();
  const rows: AccountsTable[] = batch.map((user, position) => ({
    id: newId('acc', clock),
    organization_id: organizationId,
    owner_id: owners[position]!.id,
    provider: 'microsoft',
    tenant_id: user.tenantId,
    object_id: user.objectId,
    email: user.email,
    display_name: null,
    permission_profile: profile,
    granted_scopes: JSON.stringify([...graphScopes(profile), 'offline_access']),
    status: 'connected',
    status_reason: null,
    status_evidence: null,
    status_changed_at: now,
    connected_at: now,
    ...(schedule ? schedule(user.index, user, now) : lifecycleColumnsAfterGrant(now, user.expiresIn)),
    created_at: now,
    updated_at: now,
  }));
  await trx.insertInto('accounts').values(rows).execute();
  for (const [position, user] of batch.entries()) {
    await storeAccountTokens(trx, deps.vault, clock, rows[position]!.id, {
      accessToken: PlaintextSecret.from(user.accessToken),
      refreshToken: PlaintextSecret.from(user.refreshToken),
    });
  }
  return rows.map((row) => row.id);
}
