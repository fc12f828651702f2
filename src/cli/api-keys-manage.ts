import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import { migrateToLatest } from '../db/migrate.js';
import { openDatabase } from '../db/open-database.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { type ApiKeySummary, listApiKeys, revokeApiKey } from '../orgs/api-keys.js';
import type { Organization } from '../orgs/organizations.js';
import { type Clock, systemClock } from '../platform/clock.js';
import { parseCliFlagsOrThrow } from './cli-flags.js';
import { findUniqueOrganizationByNameOrThrow } from './cli-organization.js';

export const API_KEYS_LIST_USAGE =
  'usage: mailbridge api-keys list --org <organisation name>\n' +
  "  Lists the organisation's API keys (never their secrets): id, prefix, scope, status, name, creator, last use.\n";

export const API_KEYS_REVOKE_USAGE =
  'usage: mailbridge api-keys revoke --org <organisation name> --id <key id>\n' +
  '  Revokes the key: every mailbridge process refuses it from its next request on.\n';

export interface ApiKeysManageOptions {
  stdout?: NodeJS.WritableStream;
  clock?: Clock;
}

/** `mailbridge api-keys list`: one line per key, tab-separated, oldest first. */
export async function runApiKeysList(
  config: Config,
  args: readonly string[],
  options: ApiKeysManageOptions = {},
): Promise<ApiKeySummary[]> {
  const flags = parseCliFlagsOrThrow(args, { usage: API_KEYS_LIST_USAGE, values: ['--org'] });
  const org = requiredFlag(flags.last('--org'), '--org', API_KEYS_LIST_USAGE);
  const clock = options.clock ?? systemClock;
  return withMigratedDatabase(config, async (db) => {
    const organization = await findOrganizationByNameOrThrow(db, org);
    const keys = await listApiKeys(db, clock, organization.id);
    const stdout = options.stdout ?? process.stdout;
    stdout.write('id\tprefix\tscope\tstatus\tname\tcreated by\tcreated at\tlast used\texpires\n');
    for (const key of keys) {
      const cells = [key.id, `${key.prefix}…`, key.scope, key.status, key.name, key.createdBy, key.createdAt];
      stdout.write(`${[...cells, key.lastUsedAt ?? 'never', key.expiresAt ?? 'never'].join('\t')}\n`);
    }
    return keys;
  });
}

/** `mailbridge api-keys revoke`: revokes one key of the organisation (a revoked key stays revoked). */
export async function runApiKeysRevoke(
  config: Config,
  args: readonly string[],
  options: ApiKeysManageOptions = {},
): Promise<ApiKeySummary> {
  const flags = parseCliFlagsOrThrow(args, { usage: API_KEYS_REVOKE_USAGE, values: ['--org', '--id'] });
  const org = requiredFlag(flags.last('--org'), '--org', API_KEYS_REVOKE_USAGE);
  const id = requiredFlag(flags.last('--id'), '--id', API_KEYS_REVOKE_USAGE);
  const clock = options.clock ?? systemClock;
  return withMigratedDatabase(config, async (db) => {
    const organization = await findOrganizationByNameOrThrow(db, org);
    const revoked = await revokeApiKey(db, clock, organization.id, id);
    if (!revoked) {
      throw new AppError('API_KEY_NOT_FOUND', `organisation "${organization.name}" has no API key ${id}`, {
        status: 404,
      });
    }
    (options.stdout ?? process.stdout).write(
      `Revoked API key ${revoked.id} (${revoked.prefix}…) at ${revoked.revokedAt}.\n`,
    );
    return revoked;
  });
}

async function withMigratedDatabase<T>(config: Config, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const handle = await openDatabase(config.database);
  try {
    await migrateToLatest(handle.db);
    return await work(handle.db);
  } finally {
    await handle.close();
  }
}

/** The one organisation with this name; an unknown or ambiguous name is an error (nothing is created here). */
async function findOrganizationByNameOrThrow(db: Kysely<Database>, name: string): Promise<Organization> {
  const organization = await findUniqueOrganizationByNameOrThrow(db, name.trim());
  if (!organization) {
    throw new AppError('CLI_ORGANIZATION_NOT_FOUND', `no organisation is named "${name}"`, { status: 404 });
  }
  return organization;
}

function requiredFlag(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value.trim() === '') {
    throw new AppError('CLI_ARGUMENT_MISSING', `${flag} is required\n${usage}`, { status: 400 });
  }
  return value;
}
