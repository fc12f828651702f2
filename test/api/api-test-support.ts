import assert from 'node:assert/strict';
import { upsertConnectedAccount } from '../../src/accounts/upsert-connected-account.js';
import { type PermissionProfile, requestedScopes } from '../../src/connect/permission-profiles.js';
import type { AccountStatus } from '../../src/db/tables/accounts.js';
import { CONSUMER_TENANT_ID } from '../../src/microsoft/tenants.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization, type Organization } from '../../src/orgs/organizations.js';
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
  const response = await fetchRepeatingIdempotent(`${service.url}${path}`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/**
 * A pooled keep-alive connection that the server closes as a request leaves on it fails with ECONNRESET before any
 * answer (seen after a 30-day simulation's long run of in-process work). HTTP lets a client repeat an idempotent
 * request then, as browsers do; undici's fetch does not, so a GET or HEAD is sent once more. Anything else fails.
 */
async function fetchRepeatingIdempotent(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const reset = (error as { cause?: { code?: string } }).cause?.code === 'ECONNRESET';
    if (!reset || (init.method !== 'GET' && init.method !== 'HEAD')) throw error;
    return fetch(url, init);
  }
}

export interface SeededAccount {
  id: string;
  ownerRowId: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * Seeds a connected account through the connect flow's own store (`upsertConnectedAccount`: owner, account, sealed
 * tokens and `account.connected` in one transaction), so the API can be tested on accounts without driving
 * Microsoft sign-ins for each; a `status` other than connected is then set on the row, as a test fixture.
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
    /** Default `send`. */
    permissionProfile?: PermissionProfile;
  },
): Promise<SeededAccount> {
  const { db, clock } = service.deps;
  const accessToken = `at-${newId('tok', clock)}-${Math.random().toString(36).slice(2)}`;
  const refreshToken = `rt-${newId('tok', clock)}-${Math.random().toString(36).slice(2)}`;
  const result = await upsertConnectedAccount(service.deps, {
    organizationId: input.organizationId,
    ownerExternalId: input.ownerId,
    permissionProfile: input.permissionProfile ?? 'send',
    grantedScopes: requestedScopes(input.permissionProfile ?? 'send'),
    identity: {
      tenantId: input.tenantId ?? CONSUMER_TENANT_ID,
      objectId: newId('oid', clock),
      email: input.email,
      displayName: `Display ${input.email}`,
    },
    tokens: {
      accessToken: PlaintextSecret.from(accessToken),
      refreshToken: PlaintextSecret.from(refreshToken),
      expiresInSeconds: 3600,
    },
  });
  assert.notEqual(result.kind, 'already_connected_elsewhere', `${input.email} is another owner's account`);
  const id = result.accountId;
  if (input.status !== undefined && input.status !== 'connected') {
    await db
      .updateTable('accounts')
      .set({
        status: input.status,
        status_reason: input.reason ?? null,
        status_evidence: input.evidence ? JSON.stringify(input.evidence) : null,
      })
      .where('id', '=', id)
      .execute();
  }
  const account = await db.selectFrom('accounts').select('owner_id').where('id', '=', id).executeTakeFirstOrThrow();
  return { id, ownerRowId: account.owner_id, accessToken, refreshToken };
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
