import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { AppError } from '../errors/app-error.js';
import { getOrganization, isReturnUrlAllowed } from '../orgs/organizations.js';
import { ensureOwner } from '../owners/owners.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { isPermissionProfile, type PermissionProfile } from './permission-profiles.js';

/**
 * Connect sessions: one end user's attempt to connect a mailbox, created by the host app (`POST /v1/connect-sessions`)
 * and driven by the hosted pages under `/connect/{id}`. The id is the capability: 80 random bits (plus the creation
 * time, see ids.ts), handed only to the host app, which hands it only to its user.
 *
 * Status: `created` → `started` (sent to Microsoft) → `callback` (Microsoft answered; the state is spent) →
 * `completed` (connected) | `failed` (an outcome the user may retry) | `awaiting_approval` (an IT admin must approve
 * first). Any status but `completed` may start again while the session lives. `expires_at` ends it; a session waiting
 * for an admin lives longer (APPROVAL_WAIT_MS), since admins take hours or days.
 */

export const CONNECT_SESSION_TTL_MS = 30 * 60_000;
/** How long a session waiting for an IT admin (and its admin-consent link) stays usable. */
export const APPROVAL_WAIT_MS = 7 * 86_400_000;

export interface CreateConnectSessionInput {
  organizationId: string;
  ownerExternalId: string;
  permissionProfile: PermissionProfile;
  returnUrl?: string | undefined;
  loginHint?: string | undefined;
  expectedEmail?: string | undefined;
}

export interface CreatedConnectSession {
  id: string;
  /** Where the host app sends its user: `${PUBLIC_URL}/connect/{id}`. */
  url: string;
  expiresAt: string;
}

const MAX_OWNER_ID_LENGTH = 255;
const MAX_EMAIL_LENGTH = 320;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

type SessionDeps = Pick<ServiceDeps, 'db' | 'clock' | 'config'>;

/**
 * Creates a connect session for an owner of the organisation (creating the owner on first use). Refuses with a 4xx
 * `AppError` (codes `CONNECT_…`): unknown organisation (404), a bad owner id, profile, login hint or expected email,
 * or a return URL outside the organisation's allow-list (400; no open redirects).
 */
export async function createConnectSession(
  deps: SessionDeps,
  input: CreateConnectSessionInput,
): Promise<CreatedConnectSession> {
  const ownerExternalId = validOwnerIdOrThrow(input.ownerExternalId);
  if (!isPermissionProfile(input.permissionProfile)) {
    throw new AppError('CONNECT_PERMISSION_PROFILE_INVALID', 'permissionProfile must be "send" or "warmup".', {
      status: 400,
      details: { allowed: ['send', 'warmup'] },
    });
  }
  const loginHint = optionalEmailOrThrow(input.loginHint, 'loginHint', 'CONNECT_LOGIN_HINT_INVALID');
  const expectedEmail = optionalEmailOrThrow(input.expectedEmail, 'expectedEmail', 'CONNECT_EXPECTED_EMAIL_INVALID');
  const organization = await getOrganization(deps.db, input.organizationId);
  if (!organization) {
    throw new AppError('CONNECT_ORGANIZATION_NOT_FOUND', `No organisation ${input.organizationId.slice(0, 64)}.`, {
      status: 404,
    });
  }
  const returnUrl = input.returnUrl === undefined || input.returnUrl === '' ? null : input.returnUrl;
  if (returnUrl !== null && !isReturnUrlAllowed(organization, returnUrl)) {
    throw new AppError(
      'CONNECT_RETURN_URL_NOT_ALLOWED',
      "returnUrl is not in the organisation's allowed return URLs (same origin, and a path under an allowed one).",
      { status: 400, details: { allowedReturnUrls: organization.allowedReturnUrls } },
    );
  }
  const now = deps.clock.now();
  const row: ConnectSessionsTable = {
    id: newId('cs', deps.clock),
    organization_id: organization.id,
    owner_external_id: ownerExternalId,
    permission_profile: input.permissionProfile,
    return_url: returnUrl,
    login_hint: loginHint,
    expected_email: expectedEmail,
    status: 'created',
    state_hash: null,
    browser_binding_hash: null,
    nonce: null,
    code_verifier: null,
    outcome: null,
    account_id: null,
    tenant_id: null,
    expires_at: now + CONNECT_SESSION_TTL_MS,
    created_at: now,
    updated_at: now,
    expiry_recorded_at: null,
  };
  await withTransaction(deps.db, async (trx) => {
    await ensureOwner(trx, deps.clock, organization.id, ownerExternalId);
    await trx.insertInto('connect_sessions').values(row).execute();
  });
  return {
    id: row.id,
    url: `${deps.config.publicUrl}/connect/${row.id}`,
    expiresAt: new Date(row.expires_at).toISOString(),
  };
}

/** The session, or undefined for an id that is malformed or unknown. */
export async function findConnectSession(db: Kysely<Database>, id: string): Promise<ConnectSessionsTable | undefined> {
  if (!/^cs_[0-9a-z]{26}$/.test(id)) return undefined;
  return db.selectFrom('connect_sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

export function isSessionExpired(session: Pick<ConnectSessionsTable, 'expires_at'>, now: number): boolean {
  return Number(session.expires_at) <= now;
}

export function sessionProfile(session: Pick<ConnectSessionsTable, 'permission_profile'>): PermissionProfile {
  return isPermissionProfile(session.permission_profile) ? session.permission_profile : 'send';
}

/** SHA-256, base64url: how `state`, the browser binding and the admin-consent state are kept at rest. */
export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

function validOwnerIdOrThrow(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_OWNER_ID_LENGTH ||
    CONTROL_CHARACTERS.test(value)
  ) {
    throw new AppError(
      'CONNECT_OWNER_ID_INVALID',
      `ownerId is the host app's id for the user: 1 to ${MAX_OWNER_ID_LENGTH} printable characters.`,
      { status: 400 },
    );
  }
  return value;
}

function optionalEmailOrThrow(value: unknown, name: string, code: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (
    typeof value !== 'string' ||
    value.length > MAX_EMAIL_LENGTH ||
    !/^[^\s@]+@[^\s@]+$/.test(value) ||
    CONTROL_CHARACTERS.test(value)
  ) {
    throw new AppError(code, `${name} must be an email address (as the user signs in at Microsoft).`, {
      status: 400,
    });
  }
  return value.trim();
}
