/**
 * Tables of the dashboard's sign-in (src/dashboard-auth/), beyond `dashboard_users` / `dashboard_sessions` (0002).
 * Created by migrations 0003-dashboard-sign-in-failures and 0010-dashboard-known-devices. Timestamps are epoch ms.
 */
export interface DashboardTables {
  dashboard_sign_in_failures: DashboardSignInFailuresTable;
  dashboard_known_devices: DashboardKnownDevicesTable;
}

/**
 * Failed sign-ins per email address, shared by every process (the per-IP rate limit lives in each process's
 * memory; this counter is what stops a distributed guess at one account). Kept for unknown addresses too, so a
 * lock-out says nothing about whether an address has an account.
 */
export interface DashboardSignInFailuresTable {
  /**
   * What is counted: SHA-256 (base64url) of the lower-cased email (typed addresses of strangers are not stored), or
   * `device:<id_hash>` for a known device's own counter (sign-in-throttle.ts).
   */
  email_key: string;
  failures: number;
  window_started_at: number;
  locked_until: number | null;
}

/**
 * A browser a user signed in from: the `mailbridge_device` cookie's random value, stored as its SHA-256 like a
 * session. A sign-in from it is judged by its own failure counter, not the address's lock-out (known-devices.ts).
 */
export interface DashboardKnownDevicesTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}
