import { findApprovalHandOff } from '../../connect/admin-approval.js';
import type { ServiceDeps } from '../../services.js';

/** A connect attempt of the signed-in user that waits for (or got) their organisation's IT admin approval. */
export interface PendingConnection {
  sessionId: string;
  requestedAt: number;
  /** The IT admin approved: one click on "Finish connecting" completes it. */
  granted: boolean;
  /** The admin-consent link to pass to IT (as the connect flow's approval page shows it). */
  adminConsentUrl: string | undefined;
}

const PENDING_LIMIT = 10;

/**
 * The user's connect sessions waiting for admin approval that are still usable, newest first, with whether the
 * tenant has approved since (through this link, another user's, or Entra directly: findApprovalHandOff).
 */
export async function listPendingConnections(
  deps: ServiceDeps,
  organizationId: string,
  ownerExternalId: string,
): Promise<PendingConnection[]> {
  const sessions = await deps.db
    .selectFrom('connect_sessions')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('owner_external_id', '=', ownerExternalId)
    .where('status', '=', 'awaiting_approval')
    .where('expires_at', '>', deps.clock.now())
    .orderBy('created_at', 'desc')
    .limit(PENDING_LIMIT)
    .execute();
  const pending: PendingConnection[] = [];
  for (const session of sessions) {
    const handOff = await findApprovalHandOff(deps, session);
    pending.push({
      sessionId: session.id,
      requestedAt: Number(session.updated_at),
      granted: handOff?.status === 'granted',
      adminConsentUrl: handOff?.adminConsentUrl,
    });
  }
  return pending;
}
