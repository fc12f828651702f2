import assert from 'node:assert/strict';
import { storeAccountTokens } from '../../src/accounts/account-tokens.js';
import type { AccountStatus, AccountsTable } from '../../src/db/tables/accounts.js';
import { withTransaction } from '../../src/db/transaction.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization, type Organization } from '../../src/orgs/organizations.js';
import { ensureOwner } from '../../src/owners/owners.js';
import { newId } from '../../src/platform/ids.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';
import type { TestService } from '../support/service.js';

/** An organisation with an API key, made through the same functions `mailbridge api-keys create` uses. */
export interface ApiClient {
  organization: Organization;
  key: string;
  apiKeyId: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field and checked with assert.
  body: any;
}

export async function createApiClient(
  service: TestService,
  name: string,
  allowedReturnUrls: string[] = [],
): Promise<ApiClient> {
  const organization = await createOrganization(service.deps.db, service.deps.clock, { name, allowedReturnUrls });
  const created = await createApiKey(service.deps.db, service.deps.clock, organization.id, `${name} test key`);
  return {
    organization,
    key: created.key,
    apiKeyId: created.id,
    call: (method, path, body, headers) =>
      callApi(service, method, path, { authorization: `Bearer ${created.key}`, ...headers }, body),
  };
}

/** A request over real HTTP. `body` is sent as JSON unless it is a string (sent as is). */
export async function callApi(
  service: TestService,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<ApiAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (typeof body !== 'string') (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${service.url}${path}`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

export interface SeededAccount {
  id: string;
  ownerRowId: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * Seeds a connected account the way the connect flow stores one (owner row, account row, sealed tokens in one
 * transaction), so the API can be tested on accounts without driving Microsoft sign-ins for each.
 */
export async function seedAccount(
  service: TestService,
  input: {
    organizationId: string;
    ownerId: string;
    email: string;
    status?: AccountStatus;
    reason?: string | null;
    evidence?: Record<string, unknown> | null;
    tenantId?: string;
  },
): Promise<SeededAccount> {
  const { db, clock, vault } = service.deps;
  const now = clock.now();
  const id = newId('acc', clock);
  const accessToken = `at-${id}-${Math.random().toString(36).slice(2)}`;
  const refreshToken = `rt-${id}-${Math.random().toString(36).slice(2)}`;
  const ownerRowId = await withTransaction(db, async (trx) => {
    const owner = await ensureOwner(trx, clock, input.organizationId, input.ownerId);
    const row: AccountsTable = {
      id,
      organization_id: input.organizationId,
      owner_id: owner.id,
      provider: 'microsoft',
      tenant_id: input.tenantId ?? '9188040d-6c67-4c5b-b112-36a304b66dad',
      object_id: newId('oid', clock),
      email: input.email,
      display_name: `Display ${input.email}`,
      permission_profile: 'send',
      granted_scopes: JSON.stringify(['openid', 'profile', 'email', 'offline_access', 'User.Read', 'Mail.Send']),
      status: input.status ?? 'connected',
      status_reason: input.reason ?? null,
      status_evidence: input.evidence ? JSON.stringify(input.evidence) : null,
      status_changed_at: now,
      connected_at: now,
      last_refreshed_at: now,
      access_token_expires_at: now + 3600_000,
      refresh_token_issued_at: now,
      next_keepalive_at: now + 7 * 86_400_000,
      next_health_check_at: now + 86_400_000,
      refresh_failures: 0,
      refresh_retry_at: null,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('accounts').values(row).execute();
    await storeAccountTokens(trx, vault, clock, id, {
      accessToken: PlaintextSecret.from(accessToken),
      refreshToken: PlaintextSecret.from(refreshToken),
    });
    await service.deps.events.record(trx, {
      organizationId: input.organizationId,
      type: 'account.connected',
      accountId: id,
      ownerExternalId: input.ownerId,
      // What the connect flow records (upsert-connected-account.ts), so it parses as the documented event.
      data: {
        accountId: id,
        ownerId: input.ownerId,
        provider: row.provider,
        email: input.email,
        tenantId: row.tenant_id,
        permissionProfile: row.permission_profile,
        scopes: JSON.parse(row.granted_scopes),
      },
    });
    return owner.id;
  });
  return { id, ownerRowId, accessToken, refreshToken };
}

/**
 * Every row of the tables the API writes, for "a rejected request changes nothing" assertions. An API key's
 * `last_used_at` is left out: recording that a key was used is authentication's bookkeeping, not the request's doing.
 */
export async function snapshotDatabase(service: TestService): Promise<Record<string, string[]>> {
  const db = service.deps.db;
  const tables = [
    'organizations',
    'api_keys',
    'owners',
    'accounts',
    'account_tokens',
    'connect_sessions',
    'tenant_approvals',
    'events',
    'vault_data_keys',
  ] as const;
  const out: Record<string, string[]> = {};
  for (const table of tables) {
    const rows: Record<string, unknown>[] = await db.selectFrom(table).selectAll().execute();
    out[table] = rows.map(({ last_used_at: _ignored, ...row }) => JSON.stringify(row)).sort();
  }
  return out;
}

/** Asserts that nothing changed between two snapshots, naming the table that did. */
export function assertSameSnapshot(after: Record<string, string[]>, before: Record<string, string[]>): void {
  for (const [table, rows] of Object.entries(before)) {
    assert.deepEqual(after[table], rows, `table ${table} changed`);
  }
}

/** How many `account_tokens` rows the account has (0 or 1). */
export async function tokenRows(service: TestService, accountId: string): Promise<number> {
  const rows = await service.deps.db
    .selectFrom('account_tokens')
    .select('account_id')
    .where('account_id', '=', accountId)
    .execute();
  return rows.length;
}

/** How many data keys the vault holds for the subject (an account id or a connect session id). */
export async function dataKeyRows(service: TestService, subjectId: string): Promise<number> {
  const rows = await service.deps.db
    .selectFrom('vault_data_keys')
    .select('subject_id')
    .where('subject_id', '=', subjectId)
    .execute();
  return rows.length;
}
