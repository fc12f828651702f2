/**
 * Tables of the dashboard's sign-in (src/dashboard-auth/), beyond `dashboard_users` / `dashboard_sessions` (0002).
 * Created by migration 0003-dashboard-sign-in-failures. Timestamps are epoch ms.
 */
export interface DashboardTables {
  dashboard_sign_in_failures: DashboardSignInFailuresTable;
}

/**
 * Failed sign-ins per email address, shared by every process (the per-IP rate limit lives in each process's
 * memory; this counter is what stops a distributed guess at one account). Kept for unknown addresses too, so a
 * lock-out says nothing about whether an address has an account.
 */
export interface DashboardSignInFailuresTable {
  /** SHA-256 (base64url) of the lower-cased email: typed addresses of strangers are not stored. */
  email_key: string;
  failures: number;
  window_started_at: number;
  locked_until: number | null;
}
