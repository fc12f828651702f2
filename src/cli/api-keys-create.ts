import type { Config } from '../config/config.js';
import { migrateToLatest } from '../db/migrate.js';
import { openDatabase } from '../db/open-database.js';
import { withTransaction } from '../db/transaction.js';
import { AppError } from '../errors/app-error.js';
import { createApiKey } from '../orgs/api-keys.js';
import {
  createOrganization,
  DEFAULT_ORGANIZATION_NAME,
  ensureDefaultOrganization,
  findOrganizationsByName,
  type Organization,
  updateOrganization,
} from '../orgs/organizations.js';
import { type Clock, systemClock } from '../platform/clock.js';

export const API_KEYS_CREATE_USAGE =
  'usage: mailbridge api-keys create --org <organisation name> [--return-url <url> …] [--name <key label>]\n' +
  "  Creates the organisation if it does not exist (--org Default is the dashboard's organisation), adds each\n" +
  '  --return-url to its allow-list of connect return URLs, and prints a new API key once, on stdout.\n';

export interface ApiKeysCreateArgs {
  org: string;
  returnUrls: string[];
  name: string | undefined;
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

/** Parses `--org <name>`, `--return-url <url>` (repeatable), `--name <label>`; `--flag=value` works too. */
export function parseApiKeysCreateArgsOrThrow(args: readonly string[]): ApiKeysCreateArgs {
  const parsed: ApiKeysCreateArgs = { org: '', returnUrls: [], name: undefined };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined;
    if (flag !== arg) value = arg.slice(eq + 1);
    else if (['--org', '--return-url', '--name'].includes(flag)) value = args[++i];
    if (!['--org', '--return-url', '--name'].includes(flag)) {
      throw new AppError('CLI_ARGUMENT_UNKNOWN', `unknown argument "${arg}"\n${API_KEYS_CREATE_USAGE}`, {
        status: 400,
      });
    }
    if (value === undefined || value === '') {
      throw new AppError('CLI_ARGUMENT_MISSING', `${flag} needs a value\n${API_KEYS_CREATE_USAGE}`, { status: 400 });
    }
    if (flag === '--org') parsed.org = value;
    else if (flag === '--return-url') parsed.returnUrls.push(value);
    else parsed.name = value;
  }
  if (parsed.org.trim() === '') {
    throw new AppError('CLI_ARGUMENT_MISSING', `--org is required\n${API_KEYS_CREATE_USAGE}`, { status: 400 });
  }
  return parsed;
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
        const found = await findOrganizationsByName(trx, name);
        if (found.length > 1) {
          throw new AppError(
            'CLI_ORGANIZATION_AMBIGUOUS',
            `${found.length} organisations are named "${name}" (${found.map((org) => org.id).join(', ')}).`,
            { status: 409 },
          );
        }
        if (found[0]) {
          organization = found[0];
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
      const created = await createApiKey(trx, clock, organization.id, label);
      return { organization, organizationCreated, created };
    });
    stdout.write(`${result.created.key}\n`);
    const allowList = result.organization.allowedReturnUrls;
    stderr.write(
      `${result.organizationCreated ? 'Created' : 'Using'} organisation "${result.organization.name}" ` +
        `(${result.organization.id}).\n` +
        `Created API key ${result.created.id} (${result.created.prefix}…), printed above. It is shown only ` +
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
