import type { SealedSecret } from '../../vault/secret-types.js';

/**
 * Tables of the hosted connect flow (src/connect/), beyond `connect_sessions` / `tenant_approvals` (0002).
 * Created by migration 0004-connect-approval-requests. Timestamps are epoch ms.
 */
export interface ConnectTables {
  connect_approval_requests: ConnectApprovalRequestsTable;
}

/**
 * A user's "ask my IT admin" hand-off: created when a connect attempt ends in "approval required", it carries the
 * admin-consent link's `state` (as a SHA-256 only) so the admin-consent callback can tell which organisation, owner
 * and waiting session the admin answered. The tenant is often unknown when the user is blocked (Microsoft's redirect
 * names no tenant), so the request is keyed by the session until the admin's callback tells the tenant; when it is
 * known, `tenant_approvals` also holds the wait per organisation + tenant. Deleted with its session.
 */
export interface ConnectApprovalRequestsTable {
  id: string;
  organization_id: string;
  session_id: string;
  owner_external_id: string;
  /** SHA-256 (base64url) of the admin-consent link's `state`; the value itself only travels in the link. */
  state_hash: string;
  /**
   * The same `state`, sealed under the session's data key (subject = session id, field `approval_state`), so the
   * waiting user's page can show the same link again; crypto-shredded with the session's data key.
   */
  state_sealed: SealedSecret;
  /** The tenant, once known (resolved from the user's domain, or reported by the admin-consent callback). */
  tenant_id: string | null;
  /** The approval reason (`admin_approval_required`, `approval_requested`, …; see ADMIN_APPROVAL_REASONS). */
  reason: string;
  /** `pending` → `granted` (admin consented) | `failed` (the admin's attempt came back with an error). */
  status: 'pending' | 'granted' | 'failed';
  created_at: number;
  /** The link stops working after this (admins can take days: longer than a connect session). */
  expires_at: number;
  resolved_at: number | null;
}
