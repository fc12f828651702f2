import { randomBytes, randomUUID } from 'node:crypto';
import { upsertConnectedAccount } from '../../src/accounts/upsert-connected-account.js';
import type { AccountStatus } from '../../src/db/tables/accounts.js';
import { CONSUMER_TENANT_ID } from '../../src/microsoft/tenants.js';
import type { ServiceDeps } from '../../src/services.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';

export interface SeededAccount {
  id: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * A connected account stored the way the connect flow stores one (upsertConnectedAccount: sealed tokens, events),
 * with random tokens the test can then look for in pages; optionally moved to another status afterwards.
 */
export async function seedConnectedAccount(
  deps: ServiceDeps,
  input: {
    organizationId: string;
    ownerExternalId: string;
    email: string;
    tenantId?: string;
    scopes?: string[];
    profile?: 'send' | 'warmup';
    status?: { status: AccountStatus; reason: string | null; evidence?: Record<string, unknown> };
  },
): Promise<SeededAccount> {
  const accessToken = `eyJ0eXAiOiJKV1QiLCJub25jZSI6.${randomBytes(24).toString('base64url')}`;
  const refreshToken = `M.C5${randomBytes(40).toString('base64url')}`;
  const result = await upsertConnectedAccount(deps, {
    organizationId: input.organizationId,
    ownerExternalId: input.ownerExternalId,
    permissionProfile: input.profile ?? 'send',
    grantedScopes: input.scopes ?? ['User.Read', 'Mail.Send', 'profile', 'openid', 'email'],
    identity: {
      tenantId: input.tenantId ?? CONSUMER_TENANT_ID,
      objectId: randomUUID(),
      email: input.email,
      displayName: null,
    },
    tokens: {
      accessToken: PlaintextSecret.from(accessToken),
      refreshToken: PlaintextSecret.from(refreshToken),
      expiresInSeconds: 3600,
    },
  });
  if (input.status) {
    await deps.db
      .updateTable('accounts')
      .set({
        status: input.status.status,
        status_reason: input.status.reason,
        status_evidence: input.status.evidence ? JSON.stringify(input.status.evidence) : null,
        status_changed_at: deps.clock.now(),
      })
      .where('id', '=', result.accountId)
      .execute();
  }
  return { id: result.accountId, accessToken, refreshToken };
}
