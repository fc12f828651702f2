import type { Config } from '../config/config.js';
import { migrateToLatest } from '../db/migrate.js';
import { openDatabase } from '../db/open-database.js';
import { withTransaction } from '../db/transaction.js';
import { AppError } from '../errors/app-error.js';
import { type ApiKeyScope, createApiKey } from '../orgs/api-keys.js';
import {
  createOrganization,
  DEFAULT_ORGANIZATION_NAME,
  ensureDefaultOrganization,
  type Organization,
  updateOrganization,
} from '../orgs/organizations.js';
import { type Clock, systemClock } from '../platform/clock.js';
import { parseCliDateTimeOrThrow, parseCliFlagsOrThrow } from './cli-flags.js';
import { findUniqueOrganizationByNameOrThrow } from './cli-organization.js';

export const API_KEYS_CREATE_USAGE =
  'usage: mailbridge api-keys create --org <organisation name> [--return-url <url> …] [--name <key label>]\n' +
  '                                  [--admin] [--expires-at <ISO 8601 date-time>]\n' +
  "  Creates the organisation if it does not exist (--org Default is the dashboard's organisation), adds each\n" +
  '  --return-url to its allow-list of connect return URLs, and prints a new API key once, on stdout.\n' +
  '  --admin: the key may also list, create and revoke API keys (GET/POST/DELETE /v1/api-keys).\n';

export interface ApiKeysCreateArgs {
  org: string;
  returnUrls: string[];
  name: string | undefined;
  scope: ApiKeyScope;
  /** Epoch milliseconds, or null for a key that works until revoked. */
  expiresAt: number | null;
}

export interface ApiKeysCreateOptions {
  /** Where the key goes (default process.stdout): nothing else is written there, so `> key.txt` captures it. */
  stdout?: NodeJS.WritableStream;
  /** Where the explanation goes (default process.stderr). */
  stderr?: NodeJS.WritableStream;
  clock?: Clock;
}

export interface ApiKeysCreateResult {
  organization: Organization;
  organizationCreated: boolean;
  apiKeyId: string;
  prefix: string;
}

/**
 * Parses `--org <name>`, `--return-url <url>` (repeatable), `--name <label>`, `--admin`, `--expires-at <date-time>`;
 * `--flag=value` works too.
 */
export function parseApiKeysCreateArgsOrThrow(args: readonly string[]): ApiKeysCreateArgs {
  const flags = parseCliFlagsOrThrow(args, {
    usage: API_KEYS_CREATE_USAGE,
    values: ['--org', '--return-url', '--name', '--expires-at'],
    switches: ['--admin'],
  });
  const org = flags.last('--org') ?? '';
  if (org.trim() === '') {
    throw new AppError('CLI_ARGUMENT_MISSING', `--org is required\n${API_KEYS_CREATE_USAGE}`, { status: 400 });
  }
  const expiry = flags.last('--expires-at');
  const expiresAt =
    expiry === undefined ? null : parseCliDateTimeOrThrow('--expires-at', expiry, API_KEYS_CREATE_USAGE);
  return {
    org,
    returnUrls: flags.all('--return-url'),
    name: flags.last('--name'),
    scope: flags.has('--admin') ? 'admin' : 'standard',
    expiresAt,
  };
}

/**
 * `mailbridge api-keys create`: finds the organisation by name (creating it if needed; `Default` is the dashboard's
 * organisation), adds the given return URLs to its allow-list, creates an API key and prints it once on stdout. The
 * key is not stored anywhere in clear: if it is lost, create another.
 */
export async function runApiKeysCreate(
  config: Config,
  args: readonly string[],
  options: ApiKeysCreateOptions = {},
): Promise<ApiKeysCreateResult> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const clock = options.clock ?? systemClock;
  const parsed = parseApiKeysCreateArgsOrThrow(args);
  const handle = await openDatabase(config.database);
  try {
    await migrateToLatest(handle.db);
    const result = await withTransaction(handle.db, async (trx) => {
      let organization: Organization;
      let organizationCreated = false;
      const name = parsed.org.trim();
      if (name === DEFAULT_ORGANIZATION_NAME) {
        organization = await ensureDefaultOrganization(trx, clock);
      } else {
        const found = await findUniqueOrganizationByNameOrThrow(trx, name);
        if (found) {
          organization = found;
        } else {
          organization = await createOrganization(trx, clock, { name, allowedReturnUrls: parsed.returnUrls });
          organizationCreated = true;
        }
      }
      if (!organizationCreated && parsed.returnUrls.length > 0) {
        organization = await updateOrganization(trx, organization.id, {
          allowedReturnUrls: [...organization.allowedReturnUrls, ...parsed.returnUrls],
        });
      }
      const label = parsed.name ?? `created by mailbridge api-keys create on ${new Date(clock.now()).toISOString()}`;
      const created = await createApiKey(trx, clock, organization.id, label, {
        scope: parsed.scope,
        expiresAt: parsed.expiresAt,
        createdBy: 'cli',
      });
      return { organization, organizationCreated, created };
    });
    stdout.write(`${result.created.key}\n`);
    const allowList = result.organization.allowedReturnUrls;
    stderr.write(
      `${result.organizationCreated ? 'Created' : 'Using'} organisation "${result.organization.name}" ` +
        `(${result.organization.id}).\n` +
        `Created ${parsed.scope === 'admin' ? 'admin ' : ''}API key ${result.created.id} (${result.created.prefix}…)` +
        `${parsed.expiresAt === null ? '' : `, valid until ${new Date(parsed.expiresAt).toISOString()}`}, printed above. It is shown only ` +
        'this once: store it now.\n' +
        `Allowed return URLs: ${allowList.length === 0 ? 'none (connect flows end on their own page)' : allowList.join(', ')}.\n`,
    );
    return {
      organization: result.organization,
      organizationCreated: result.organizationCreated,
      apiKeyId: result.created.id,
      prefix: result.created.prefix,
    };
  } finally {
    await handle.close();
  }
}
