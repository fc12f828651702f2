import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import type { ConnectApprovalRequestsTable } from '../db/tables/connect.js';
import { withTransaction } from '../db/transaction.js';
import { classifyConnectOutcome } from '../health/classify-connect-outcome.js';
import type { AdminApprovalReason } from '../health/health.js';
import { type ErrorEvidence, evidenceFromRedirectError } from '../microsoft/error-evidence.js';
import { MICROSOFT_LOGIN_ORIGIN, routeMicrosoftUrl } from '../microsoft/microsoft-routes.js';
import { CONSUMER_TENANT_ID } from '../microsoft/tenants.js';
import { getOwner } from '../owners/owners.js';
import { newId, randomToken } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { PlaintextSecret } from '../vault/secret-types.js';
import { APPROVAL_WAIT_MS, sessionProfile, sha256 } from './connect-sessions.js';
import { GRAPH_RESOURCE, graphScopes, type PermissionProfile } from './permission-profiles.js';

/**
 * The "ask my IT admin" hand-off (issue 3 item 4; docs/product.md §2).
 *
 * When a user's organisation requires an admin's approval, the outcome page gives them an admin-consent link for
 * their IT admin (Microsoft's v2 `adminconsent` endpoint, docs/entra.md §1.7) whose `state` is ours: it names this
 * hand-off (`connect_approval_requests`), so the admin's answer at `/connect/admin-consent/callback` is recorded for
 * the right organisation and the waiting user's page turns into "Your IT admin approved — Finish connecting".
 *
 * Microsoft's blocked-user redirect names no tenant, so a hand-off is keyed by its session until the tenant is known:
 * from the user's domain (the session's login hint or expected email, looked up through Microsoft's discovery
 * document) or from the admin's callback. Once known, `tenant_approvals` holds the wait per organisation + tenant
 * with the waiting owners, and the grant when it comes.
 *
 * Microsoft says never to trust the callback's `tenant` for authentication (§1.7). Here it authenticates nobody: it
 * only records that the admin reported consent; whoever connects next still signs in at Microsoft, which enforces
 * the real consent. The `state` (a 256-bit secret, single-use, only in the link) is what ties the answer to us.
 */

type ApprovalDeps = Pick<
  ServiceDeps,
  'db' | 'clock' | 'vault' | 'events' | 'microsoft' | 'config' | 'logger' | 'dialect'
>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ApprovalHandOff {
  requestId: string;
  /** The admin-consent link as the browser must open it (routed to the emulator in emulator mode). */
  adminConsentUrl: string;
  tenantId: string | null;
  status: ConnectApprovalRequestsTable['status'];
}

/** `/{tenant}/v2.0/adminconsent`: the configured tenant when it is one organisation, else `organizations`. */
function adminConsentSegment(configuredTenant: string): string {
  const tenant = configuredTenant.toLowerCase();
  return tenant === 'common' || tenant === 'consumers' || tenant === 'organizations' ? 'organizations' : tenant;
}

export function adminConsentCallbackUrl(publicUrl: string): string {
  return `${publicUrl}/connect/admin-consent/callback`;
}

/**
 * The v2 admin-consent URL on Microsoft's host: `client_id`, each Graph permission of the profile as a full name,
 * the admin-consent redirect URI and our `state`. @see docs/entra.md §1.7
 */
export function buildAdminConsentUrl(
  deps: Pick<ServiceDeps, 'microsoft' | 'config'>,
  profile: PermissionProfile,
  state: string,
): string {
  const params = new URLSearchParams({
    client_id: deps.microsoft.clientId,
    scope: graphScopes(profile)
      .map((scope) => `${GRAPH_RESOURCE}/${scope}`)
      .join(' '),
    redirect_uri: adminConsentCallbackUrl(deps.config.publicUrl),
    state,
  });
  const segment = encodeURIComponent(adminConsentSegment(deps.microsoft.tenant));
  return `${MICROSOFT_LOGIN_ORIGIN}/${segment}/v2.0/adminconsent?${params}`;
}

/**
 * The tenant of an organisation's domain, from Microsoft's discovery document for that domain (its `issuer` is
 * `https://login.microsoftonline.com/{tid}/v2.0`). Best effort: undefined for personal-account domains, unknown
 * domains, or when Microsoft does not answer quickly. @see docs/entra.md §1.1 ({tenant} may be a verified domain)
 */
export async function resolveTenantIdForEmail(
  deps: Pick<ServiceDeps, 'microsoft'>,
  email: string | null,
): Promise<string | undefined> {
  const domain = email?.split('@')[1]?.trim().toLowerCase();
  if (!domain || !/^[a-z0-9.-]+\.[a-z]{2,}$/.test(domain)) return undefined;
  try {
    const response = await deps.microsoft.fetch(
      `${MICROSOFT_LOGIN_ORIGIN}/${encodeURIComponent(domain)}/v2.0/.well-known/openid-configuration`,
      { signal: AbortSignal.timeout(5000) },
    );
    if (!response.ok) {
      await response.arrayBuffer();
      return undefined;
    }
    const body = (await response.json()) as { issuer?: unknown };
    const tid = typeof body.issuer === 'string' ? /\/([0-9a-f-]{36})\/v2\.0$/i.exec(body.issuer)?.[1] : undefined;
    return tid && GUID.test(tid) && tid.toLowerCase() !== CONSUMER_TENANT_ID ? tid.toLowerCase() : undefined;
  } catch {
    // Best effort: without the tenant the wait stays keyed by the session until the admin's callback names it.
    return undefined;
  }
}

/**
 * Records that the session's owner waits for an admin (called in the transaction that ends the attempt with
 * "approval required"): the session's hand-off (re-used if one is pending, so a link already sent to the admin
 * stays valid), the per-tenant wait when the tenant is known, and `tenant.admin_approval_requested`. The session
 * itself stays usable for APPROVAL_WAIT_MS.
 */
export async function recordApprovalWait(
  deps: ApprovalDeps,
  trx: Kysely<Database>,
  session: ConnectSessionsTable,
  reason: AdminApprovalReason,
  tenantId: string | undefined,
): Promise<ApprovalHandOff> {
  const now = deps.clock.now();
  const existing = await trx
    .selectFrom('connect_approval_requests')
    .selectAll()
    .where('session_id', '=', session.id)
    .where('status', '=', 'pending')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  let request: ConnectApprovalRequestsTable;
  if (existing) {
    request = { ...existing, reason, tenant_id: existing.tenant_id ?? tenantId ?? null };
    await trx
      .updateTable('connect_approval_requests')
      .set({ reason, tenant_id: request.tenant_id, expires_at: now + APPROVAL_WAIT_MS })
      .where('id', '=', existing.id)
      .execute();
  } else {
    const state = randomToken(32);
    request = {
      id: newId('apr', deps.clock),
      organization_id: session.organization_id,
      session_id: session.id,
      owner_external_id: session.owner_external_id,
      state_hash: sha256(state),
      state_sealed: await deps.vault.seal(trx, session.id, 'approval_state', PlaintextSecret.from(state), {
        createDataKeyIfMissing: true,
      }),
      tenant_id: tenantId ?? null,
      reason,
      status: 'pending',
      created_at: now,
      expires_at: now + APPROVAL_WAIT_MS,
      resolved_at: null,
    };
    await trx.insertInto('connect_approval_requests').values(request).execute();
  }
  if (request.tenant_id) await addTenantWaiter(deps, trx, session, request.tenant_id);
  await deps.events.record(trx, {
    organizationId: session.organization_id,
    type: 'tenant.admin_approval_requested',
    ownerExternalId: session.owner_external_id,
    data: {
      ownerId: session.owner_external_id,
      connectSessionId: session.id,
      tenantId: request.tenant_id,
      reason,
      clientId: deps.microsoft.clientId,
    },
  });
  return handOffView(deps, trx, session, request);
}

/** The session's latest hand-off (pending or granted), with its link, or undefined when it has none. */
export async function findApprovalHandOff(
  deps: ApprovalDeps,
  session: ConnectSessionsTable,
): Promise<ApprovalHandOff | undefined> {
  const request = await deps.db
    .selectFrom('connect_approval_requests')
    .selectAll()
    .where('session_id', '=', session.id)
    .where('status', 'in', ['pending', 'granted'])
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!request) return undefined;
  let status = request.status;
  // The tenant may have been approved through another user's link (or directly in Entra and reported to us).
  if (status === 'pending' && request.tenant_id) {
    const tenant = await deps.db
      .selectFrom('tenant_approvals')
      .select('status')
      .where('organization_id', '=', session.organization_id)
      .where('tenant_id', '=', request.tenant_id)
      .executeTakeFirst();
    if (tenant?.status === 'granted') status = 'granted';
  }
  return { ...(await handOffView(deps, deps.db, session, request)), status };
}

async function handOffView(
  deps: ApprovalDeps,
  db: Kysely<Database>,
  session: ConnectSessionsTable,
  request: ConnectApprovalRequestsTable,
): Promise<ApprovalHandOff> {
  const state = await deps.vault.open(db, session.id, 'approval_state', request.state_sealed);
  const url = buildAdminConsentUrl(deps, sessionProfile(session), state.reveal());
  return {
    requestId: request.id,
    adminConsentUrl: routeMicrosoftUrl(url, deps.microsoft.routes),
    tenantId: request.tenant_id,
    status: request.status,
  };
}

/** Adds the session's owner to the organisation + tenant wait (a granted tenant that blocks again is pending again). */
async function addTenantWaiter(
  deps: ApprovalDeps,
  trx: Kysely<Database>,
  session: ConnectSessionsTable,
  tenantId: string,
): Promise<void> {
  const owner = await getOwner(trx, session.organization_id, session.owner_external_id);
  if (!owner) return;
  const now = deps.clock.now();
  await trx
    .insertInto('tenant_approvals')
    .values({
      organization_id: session.organization_id,
      tenant_id: tenantId,
      status: 'pending',
      waiting_owner_ids: '[]',
      requested_at: now,
      granted_at: null,
    })
    .onConflict((conflict) => conflict.columns(['organization_id', 'tenant_id']).doNothing())
    .execute();
  let query = trx
    .selectFrom('tenant_approvals')
    .selectAll()
    .where('organization_id', '=', session.organization_id)
    .where('tenant_id', '=', tenantId);
  // Serialise concurrent waiters on PostgreSQL (SQLite writers are serialised already).
  if (deps.dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  const waiting = parseIdList(row.waiting_owner_ids);
  if (!waiting.includes(owner.id)) waiting.push(owner.id);
  await trx
    .updateTable('tenant_approvals')
    .set({
      waiting_owner_ids: JSON.stringify(waiting),
      // Blocked again after a grant: the admin's consent was removed or does not cover this profile.
      status: 'pending',
      requested_at: row.status === 'granted' ? now : row.requested_at,
    })
    .where('organization_id', '=', session.organization_id)
    .where('tenant_id', '=', tenantId)
    .execute();
}

/** Takes an owner out of the organisation + tenant wait (they connected). The tenant's grant stays. */
export async function removeTenantWaiter(
  trx: Kysely<Database>,
  dialect: ServiceDeps['dialect'],
  organizationId: string,
  tenantId: string,
  ownerId: string,
): Promise<void> {
  let query = trx
    .selectFrom('tenant_approvals')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('tenant_id', '=', tenantId);
  if (dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) return;
  const waiting = parseIdList(row.waiting_owner_ids);
  if (!waiting.includes(ownerId)) return;
  const remaining = waiting.filter((id) => id !== ownerId);
  if (remaining.length === 0 && row.status === 'pending') {
    // Nobody waits any more and this user got in: Microsoft let them, so nothing is pending for this tenant.
    await trx
      .deleteFrom('tenant_approvals')
      .where('organization_id', '=', organizationId)
      .where('tenant_id', '=', tenantId)
      .execute();
    return;
  }
  await trx
    .updateTable('tenant_approvals')
    .set({ waiting_owner_ids: JSON.stringify(remaining) })
    .where('organization_id', '=', organizationId)
    .where('tenant_id', '=', tenantId)
    .execute();
}

/**
 * What went wrong at `/adminconsent`, for the page: the account that signed in is not an admin (90094/90093), is
 * not of this organisation (50020, 500208: a guest or personal account), the admin declined or backed out, or
 * something else. Read through `classifyConnectOutcome`, so the same codes mean the same everywhere.
 * @see issue 15 case 9 (AADSTS50020 recorded at /adminconsent: docs/entra.md §1.7)
 */
export type AdminConsentProblem = 'not_an_admin' | 'wrong_account' | 'declined' | 'other';

function adminConsentProblem(evidence: ErrorEvidence): AdminConsentProblem {
  switch (classifyConnectOutcome(evidence).outcome) {
    case 'approval_required':
      return 'not_an_admin';
    case 'wrong_account_type':
      return 'wrong_account';
    case 'declined':
    case 'cancelled':
      return 'declined';
    default:
      return 'other';
  }
}

export type AdminConsentCallbackResult =
  | { kind: 'granted'; tenantId: string; alreadyRecorded: boolean }
  | { kind: 'error'; code: number | undefined; description: string | undefined; problem: AdminConsentProblem }
  | { kind: 'unknown_link' }
  | { kind: 'expired_link' };

/**
 * `GET /connect/admin-consent/callback`: `?admin_consent=True&tenant=<guid>&scope=…&state=…` on success, or the
 * error form (`error`, `error_description`, `error_uri`, `state`). @see docs/entra.md §1.7
 */
export async function handleAdminConsentCallback(
  deps: ApprovalDeps,
  params: URLSearchParams,
): Promise<AdminConsentCallbackResult> {
  const state = params.get('state');
  if (!state) return { kind: 'unknown_link' };
  const now = deps.clock.now();
  return withTransaction(deps.db, async (trx) => {
    const request = await trx
      .selectFrom('connect_approval_requests')
      .selectAll()
      .where('state_hash', '=', sha256(state))
      .executeTakeFirst();
    if (!request) return { kind: 'unknown_link' } as const;
    if (params.has('error')) {
      const evidence = evidenceFromRedirectError(params, 'admin_consent_redirect');
      deps.logger.info(
        { connectSessionId: request.session_id, evidence },
        'admin consent came back with an error; the link stays usable',
      );
      return {
        kind: 'error',
        code: evidence.errorCodes[0],
        description: evidence.description,
        problem: adminConsentProblem(evidence),
      } as const;
    }
    const tenantId = params.get('tenant')?.toLowerCase() ?? '';
    if (params.get('admin_consent')?.toLowerCase() !== 'true' || !GUID.test(tenantId)) {
      return { kind: 'error', code: undefined, description: undefined, problem: 'other' } as const;
    }
    if (request.status === 'granted') return { kind: 'granted', tenantId, alreadyRecorded: true } as const;
    if (Number(request.expires_at) <= now) return { kind: 'expired_link' } as const;

    await trx
      .updateTable('connect_approval_requests')
      .set({ status: 'granted', tenant_id: tenantId, resolved_at: now })
      .where('id', '=', request.id)
      .execute();
    // The waiting session learns its tenant (shown as "Your IT admin approved" on its page).
    await trx
      .updateTable('connect_sessions')
      .set({ tenant_id: tenantId, updated_at: now })
      .where('id', '=', request.session_id)
      .execute();
    await grantTenant(deps, trx, request, tenantId);
    await deps.events.record(trx, {
      organizationId: request.organization_id,
      type: 'tenant.admin_consent_granted',
      ownerExternalId: request.owner_external_id,
      data: {
        tenantId,
        clientId: deps.microsoft.clientId,
        // As Microsoft echoes them: full names of the consented Graph permissions.
        scopes: (params.get('scope') ?? '').split(/\s+/).filter(Boolean),
        connectSessionId: request.session_id,
        ownerId: request.owner_external_id,
      },
    });
    return { kind: 'granted', tenantId, alreadyRecorded: false } as const;
  });
}

/** Marks the organisation + tenant approved, keeping (and joining) the owners who wait to finish connecting. */
async function grantTenant(
  deps: ApprovalDeps,
  trx: Kysely<Database>,
  request: ConnectApprovalRequestsTable,
  tenantId: string,
): Promise<void> {
  const now = deps.clock.now();
  await trx
    .insertInto('tenant_approvals')
    .values({
      organization_id: request.organization_id,
      tenant_id: tenantId,
      status: 'granted',
      waiting_owner_ids: '[]',
      requested_at: Number(request.created_at),
      granted_at: now,
    })
    .onConflict((conflict) => conflict.columns(['organization_id', 'tenant_id']).doNothing())
    .execute();
  let query = trx
    .selectFrom('tenant_approvals')
    .selectAll()
    .where('organization_id', '=', request.organization_id)
    .where('tenant_id', '=', tenantId);
  if (deps.dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  const waiting = parseIdList(row.waiting_owner_ids);
  const owner = await getOwner(trx, request.organization_id, request.owner_external_id);
  if (owner && !waiting.includes(owner.id)) waiting.push(owner.id);
  await trx
    .updateTable('tenant_approvals')
    .set({ status: 'granted', granted_at: now, waiting_owner_ids: JSON.stringify(waiting) })
    .where('organization_id', '=', request.organization_id)
    .where('tenant_id', '=', tenantId)
    .execute();
}

function parseIdList(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    // A corrupt list names nobody; starting it afresh loses no one who can still be told apart.
    return [];
  }
}
