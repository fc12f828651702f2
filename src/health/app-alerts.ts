import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { storableEvidence } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';
import type { AppMisconfiguredReason } from './health.js';
import { raiseOperatorAlert } from './operator-alerts.js';
import type { Remediation } from './remediation.js';

/**
 * The `app.misconfigured` operator alert: opened only from the back channel, resolved when the same credentials work
 * again (issue 10 item 1, issue 15).
 *
 * - Only a token endpoint answer the service itself received says anything about its own credentials. A callback
 *   error comes through the user's browser, which anyone holding a connect link can write
 *   (`/connect/callback?error=invalid_client&error_description=AADSTS7000215…`), and a user's tenant problem
 *   (650051 sent as `invalid_client`) is not the app's: neither opens an alert.
 * - An alert names the credentials it is about (a fingerprint of client id + secret). A later successful token
 *   request with the same credentials resolves it and records `app.recovered` in every organisation; an alert left
 *   open for other credentials never hides a failure of these.
 */

/** `Partial` microsoft: unit tests build health deps without a Microsoft connection (fingerprint then null). */
export type AppAlertDeps = Pick<ServiceDeps, 'clock' | 'dialect' | 'events' | 'logger'> &
  Partial<Pick<ServiceDeps, 'microsoft'>>;

/**
 * Identifies which client id + secret an alert is about without holding either: 16 hex characters of a SHA-256 over
 * a domain-separated string. A client secret is high-entropy, so this prefix of its hash reveals nothing usable.
 */
export function appCredentialsFingerprint(microsoft: Pick<ServiceDeps['microsoft'], 'clientId' | 'clientSecret'>) {
  return createHash('sha256')
    .update(`mailbridge/app-credentials\u0000${microsoft.clientId}\u0000${microsoft.clientSecret.reveal()}`)
    .digest('hex')
    .slice(0, 16);
}

function fingerprintOf(deps: AppAlertDeps): string | null {
  return deps.microsoft === undefined ? null : appCredentialsFingerprint(deps.microsoft);
}

export interface AppProblem {
  reason: AppMisconfiguredReason;
  remediation: Remediation;
  evidence: ErrorEvidence;
  /** Extra event fields (`source: 'connect'`). */
  data?: Record<string, unknown>;
}

/**
 * Opens the alert (and its `app.misconfigured` event in every organisation) unless one is open for the same reason
 * and credentials. Refuses evidence that did not come from the token endpoint: returns false and logs why.
 */
export async function raiseAppMisconfiguredAlert(
  db: Kysely<Database>,
  deps: AppAlertDeps,
  problem: AppProblem,
): Promise<boolean> {
  if (problem.evidence.source !== 'token_endpoint') {
    deps.logger.warn(
      { reason: problem.reason, source: problem.evidence.source },
      'app-level error from the front channel: no operator alert (only a token response we received can say that)',
    );
    return false;
  }
  const credentials = fingerprintOf(deps);
  return raiseOperatorAlert(db, deps, {
    kind: 'app.misconfigured',
    reason: problem.reason,
    detail: problem.remediation.operator,
    credentials,
    event: {
      type: 'app.misconfigured',
      data: {
        reason: problem.reason,
        remediation: problem.remediation,
        evidence: storableEvidence(problem.evidence),
        ...problem.data,
      },
    },
  });
}

/**
 * After a successful token request with the current credentials: resolves the open `app.misconfigured` alerts about
 * these credentials (and those that name none) and records one `app.recovered` event per organisation listing them.
 * Returns how many it resolved.
 */
export async function resolveAppMisconfiguredAlerts(db: Kysely<Database>, deps: AppAlertDeps): Promise<number> {
  const credentials = fingerprintOf(deps);
  return withTransaction(db, async (trx) => {
    const open = await trx
      .selectFrom('operator_alerts')
      .select(['id', 'reason', 'created_at'])
      .where('kind', '=', 'app.misconfigured')
      .where('resolved_at', 'is', null)
      .where((eb) =>
        credentials === null
          ? eb('credentials', 'is', null)
          : eb.or([eb('credentials', '=', credentials), eb('credentials', 'is', null)]),
      )
      .orderBy('created_at')
      .execute();
    if (open.length === 0) return 0;
    const now = deps.clock.now();
    const resolved = await trx
      .updateTable('operator_alerts')
      .set({ resolved_at: now })
      .where(
        'id',
        'in',
        open.map((alert) => alert.id),
      )
      .where('resolved_at', 'is', null)
      .executeTakeFirst();
    if (Number(resolved.numUpdatedRows) === 0) return 0;
    const organizations = await trx.selectFrom('organizations').select('id').orderBy('id').execute();
    const data = {
      reasons: [...new Set(open.map((alert) => alert.reason))],
      openedAt: new Date(Number(open[0]?.created_at ?? now)).toISOString(),
      resolvedAt: new Date(now).toISOString(),
    };
    for (const organization of organizations) {
      await deps.events.record(trx, { organizationId: organization.id, type: 'app.recovered', data });
    }
    deps.logger.info({ reasons: data.reasons }, 'operator alert resolved: Microsoft accepts the app again');
    return Number(resolved.numUpdatedRows);
  });
}
