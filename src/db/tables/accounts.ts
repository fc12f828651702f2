import type { Generated } from 'kysely';
import type { SealedSecret } from '../../vault/secret-types.js';

/**
 * Tables of organisations, API keys, owners, connected accounts and the connect flow. Created by migration
 * 0002-accounts. Timestamps are epoch ms; JSON columns are text.
 */
export interface AccountTables {
  organizations: OrganizationsTable;
  api_keys: ApiKeysTable;
  owners: OwnersTable;
  accounts: AccountsTable;
  account_tokens: AccountTokensTable;
  account_refresh_leases: AccountRefreshLeasesTable;
  connect_sessions: ConnectSessionsTable;
  tenant_approvals: TenantApprovalsTable;
  events: EventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_endpoints: WebhookEndpointsTable;
  operator_alerts: OperatorAlertsTable;
  dashboard_users: DashboardUsersTable;
  dashboard_sessions: DashboardSessionsTable;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  /** JSON array of URL prefixes (origin + path) a connect session may return to. */
  allowed_return_urls: string;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  organization_id: string;
  name: string;
  /** The first characters of the key, shown in lists so a person can tell keys apart. */
  key_prefix: string;
  /** SHA-256 of the whole key (keys are 256-bit random, so a fast hash is enough), base64url. */
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** `standard` (the host API) or `admin` (also manages the organisation's API keys). */
  scope: string;
  /** After this instant the key is refused; null: never. */
  expires_at: number | null;
  /** `cli`, `dashboard:<user email>` or `api:<key id>`. */
  created_by: string;
}

export interface OwnersTable {
  id: string;
  organization_id: string;
  /** The host product's id for the user who owns mailboxes. */
  external_id: string;
  /** `microsoft` = "Personal Outlook", `default` = the operator's SMTP relay. */
  email_provider: 'microsoft' | 'default';
  created_at: number;
  updated_at: number;
}

export type AccountStatus =
  | 'connected'
  | 'degraded'
  | 'reconnect_required'
  | 'admin_approval_pending'
  | 'app_misconfigured'
  | 'mailbox_unusable'
  | 'disconnected'
  | 'unknown';

export interface AccountsTable {
  id: string;
  organization_id: string;
  owner_id: string;
  provider: 'microsoft';
  /** Microsoft's tenant id (`tid`) and object id (`oid`): the account's identity. @see docs/entra.md §1.6 */
  tenant_id: string;
  object_id: string;
  email: string;
  display_name: string | null;
  /** `send` or `warmup`. */
  permission_profile: string;
  /** JSON array of granted scopes as Microsoft returned them. */
  granted_scopes: string;
  status: AccountStatus;
  status_reason: string | null;
  /** JSON of the structured evidence behind the status (never a token or a description with secrets). */
  status_evidence: string | null;
  status_changed_at: number;
  connected_at: number;
  last_refreshed_at: number | null;
  access_token_expires_at: number | null;
  /** When the current refresh token was issued: it dies if unused 90 days after. */
  refresh_token_issued_at: number | null;
  next_keepalive_at: number | null;
  next_health_check_at: number | null;
  /** Consecutive transient refresh failures (failure budget), and when to try again. */
  refresh_failures: number;
  refresh_retry_at: number | null;
  created_at: number;
  updated_at: number;
}

/** An account's tokens, sealed under the account's data key (subject = account id). */
export interface AccountTokensTable {
  account_id: string;
  access_token: SealedSecret | null;
  refresh_token: SealedSecret;
  updated_at: number;
}

/** A refresh in progress, across processes (migration 0007; src/tokens/refresh-lease.ts). */
export interface AccountRefreshLeasesTable {
  account_id: string;
  /** The process that holds it (host:pid:random). */
  owner: string;
  /**
   * Epoch ms after which another process may take it (its holder died, or overran the token request's timeout); 0
   * once released (migration 0016: the row stays).
   */
  lease_until: number;
  /**
   * Counts the lease's ends (releases and take-overs; migration 0016): a process that read it before taking the lease
   * and finds it unchanged after knows no refresh was stored in between. `Generated`: the column has a default.
   */
  generation: Generated<number>;
}

export interface ConnectSessionsTable {
  id: string;
  organization_id: string;
  owner_external_id: string;
  permission_profile: string;
  return_url: string | null;
  login_hint: string | null;
  expected_email: string | null;
  /** `created` → `started` (sent to Microsoft) → `completed` | `failed` | `expired`. */
  status: string;
  /** SHA-256 of the OAuth `state` value; the value itself only travels in the URL. */
  state_hash: string | null;
  /** SHA-256 of the browser-binding cookie set when the flow started. */
  browser_binding_hash: string | null;
  nonce: string | null;
  /** The PKCE verifier, sealed under the session's data key (subject = session id). */
  code_verifier: SealedSecret | null;
  /** Outcome code when finished (connected, reconnected, cancelled, approval_required, …). */
  outcome: string | null;
  account_id: string | null;
  /** The tenant that blocked on admin approval, when the outcome is approval_required. */
  tenant_id: string | null;
  expires_at: number;
  created_at: number;
  updated_at: number;
  /** When `connect.failed` (status `expired`) was recorded for a session the user never finished (0013). */
  expiry_recorded_at: number | null;
}

export interface TenantApprovalsTable {
  organization_id: string;
  tenant_id: string;
  /** `pending` while users wait for an admin; `granted` after the admin-consent callback. */
  status: 'pending' | 'granted';
  /** The owners waiting, JSON array of owner ids. */
  waiting_owner_ids: string;
  requested_at: number;
  granted_at: number | null;
}

export interface EventsTable {
  id: string;
  organization_id: string;
  type: string;
  account_id: string | null;
  owner_external_id: string | null;
  /** JSON payload, as delivered to webhooks. */
  data: string;
  created_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  organization_id: string;
  /** The organisation's endpoint it goes to (webhook_endpoints); null: the Default organisation's WEBHOOK_URL. */
  endpoint_id: string | null;
  url: string;
  /** `pending` | `delivered` | `failed` (gave up). */
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

/** A webhook endpoint of an organisation (0013; src/webhooks/webhook-endpoints.ts). */
export interface WebhookEndpointsTable {
  id: string;
  organization_id: string;
  url: string;
  /** JSON array of the event types it wants; null: every type. */
  event_types: string | null;
  /** 1 or 0: a disabled endpoint gets no new deliveries. */
  enabled: number;
  /** The signing secret, sealed under the endpoint's data key (subject = endpoint id, field `secret`). */
  secret_sealed: SealedSecret;
  /** During a rotation's overlap: the previous secret (field `previous_secret`), also signed with until expiry. */
  previous_secret_sealed: SealedSecret | null;
  previous_secret_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface OperatorAlertsTable {
  id: string;
  /** `app.misconfigured`, `app.secret_expiring` … one open alert per kind+reason. */
  kind: string;
  reason: string;
  detail: string;
  /** `app.misconfigured`: fingerprint of the client id + secret it is about (app-alerts.ts); never the secret. */
  credentials: string | null;
  created_at: number;
  resolved_at: number | null;
}

export interface DashboardUsersTable {
  id: string;
  organization_id: string;
  email: string;
  /** scrypt, `scrypt$N$r$p$salt$hash`. */
  password_hash: string;
  created_at: number;
}

export interface DashboardSessionsTable {
  /** SHA-256 of the session cookie value. */
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}
