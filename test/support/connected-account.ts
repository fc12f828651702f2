import type { Kysely } from 'kysely';
import type { PermissionProfile } from '../../src/connect/permission-profiles.js';
import type { Database } from '../../src/db/schema.js';
import type { Clock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';

/**
 * A connected Microsoft account and its owner, inserted straight into the database (no tokens: for tests of what reads
 * the account row, not of the token lifecycle). Returns the account id.
 */
export async function insertConnectedAccount(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  account: { email: string; ownerExternalId: string; profile: PermissionProfile; scopes: string[]; tenantId?: string },
): Promise<string> {
  const now = clock.now();
  const ownerId = newId('own', clock);
  await db
    .insertInto('owners')
    .values({
      id: ownerId,
      organization_id: organizationId,
      external_id: account.ownerExternalId,
      email_provider: 'microsoft',
      created_at: now,
      updated_at: now,
    })
    .execute();
  const id = newId('acc', clock);
  await db
    .insertInto('accounts')
    .values({
      id,
      organization_id: organizationId,
      owner_id: ownerId,
      provider: 'microsoft',
      tenant_id: account.tenantId ?? '11111111-2222-3333-4444-555555555555',
      object_id: newId('oid', clock),
      email: account.email,
      display_name: account.email,
      permission_profile: account.profile,
      granted_scopes: JSON.stringify(account.scopes),
      status: 'connected',
      status_reason: null,
      status_evidence: null,
      status_changed_at: now,
      connected_at: now,
      last_refreshed_at: now,
      access_token_expires_at: now + 3_600_000,
      refresh_token_issued_at: now,
      next_keepalive_at: null,
      next_health_check_at: null,
      refresh_failures: 0,
      refresh_retry_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}
