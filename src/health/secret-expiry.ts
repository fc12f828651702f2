import type { ServiceDeps } from '../services.js';
import { raiseOperatorAlert, resolveOperatorAlerts } from './operator-alerts.js';

const DAY = 86_400_000;

/** Warnings before the client secret expires, most urgent last. @see issue 3 item 7 */
export const SECRET_EXPIRY_WARNINGS = [
  { days: 30, label: '30_days' },
  { days: 7, label: '7_days' },
] as const;

export interface SecretExpiryCheck {
  /** The configured expiry (epoch ms), if any. */
  expiresAt: number | undefined;
  /** The warning raised by this call (`30_days` / `7_days`), if any. */
  raised: string | undefined;
}

const APP_SECRETS = 'Entra admin center → App registrations → your app → Certificates & secrets';

/**
 * Warns the operator that the Microsoft app's client secret (`MICROSOFT_CLIENT_SECRET_EXPIRES_AT`) is about to
 * expire: an `app.secret_expiring` operator alert and event 30 days and again 7 days before, each once per expiry
 * date (the date is part of the alert's reason, so a rotated secret with a new date gets its own warnings, and the
 * old date's open warnings are resolved). Inside 7 days only the 7-day warning is raised, never a stale 30-day one.
 * Once expired, refreshes fail with AADSTS7000222 and `app.misconfigured` takes over.
 */
export async function checkClientSecretExpiry(
  deps: Pick<ServiceDeps, 'config' | 'db' | 'clock' | 'dialect' | 'events' | 'logger'>,
  options: { expiresAt?: number } = {},
): Promise<SecretExpiryCheck> {
  const microsoft = deps.config.microsoft;
  const expiresAt = options.expiresAt ?? (microsoft.mode === 'microsoft' ? microsoft.clientSecretExpiresAt : undefined);
  const expiryIso = expiresAt === undefined ? undefined : new Date(expiresAt).toISOString();
  const reasons = SECRET_EXPIRY_WARNINGS.map((warning) => `${warning.label}:${expiryIso}`);
  // Warnings about another expiry date (the secret was rotated, or the variable removed) no longer apply.
  await resolveOperatorAlerts(deps.db, deps, 'app.secret_expiring', {
    exceptReasons: expiresAt === undefined ? [] : reasons,
  });
  if (expiresAt === undefined || expiryIso === undefined) return { expiresAt, raised: undefined };

  const now = deps.clock.now();
  if (now >= expiresAt) return { expiresAt, raised: undefined };
  const due = [...SECRET_EXPIRY_WARNINGS].reverse().find((warning) => now >= expiresAt - warning.days * DAY);
  if (due === undefined) return { expiresAt, raised: undefined };

  const daysLeft = Math.ceil((expiresAt - now) / DAY);
  const operator = `The Microsoft app's client secret expires on ${expiryIso} (in ${daysLeft} day${daysLeft === 1 ? '' : 's'}). Create a new secret in ${APP_SECRETS}, set MICROSOFT_CLIENT_SECRET and MICROSOFT_CLIENT_SECRET_EXPIRES_AT to it and restart, before that date; once it expires no account can be refreshed.`;
  const raised = await raiseOperatorAlert(deps.db, deps, {
    kind: 'app.secret_expiring',
    reason: `${due.label}:${expiryIso}`,
    detail: operator,
    once: true,
    event: {
      type: 'app.secret_expiring',
      data: {
        expiresAt: expiryIso,
        daysLeft,
        warning: due.label,
        remediation: { title: 'Client secret expiring', operator },
      },
    },
  });
  return { expiresAt, raised: raised ? due.label : undefined };
}
