import type { Migration } from 'kysely';
import * as m0001 from './0001-vault.js';
import * as m0002 from './0002-accounts.js';
import * as m0003dashboard from './0003-dashboard-sign-in-failures.js';
import * as m0004connect from './0004-connect-approval-requests.js';
import * as m0005outbox from './0005-outbox.js';
import * as m0006webhooks from './0006-webhooks-delivery-log.js';
import * as m0007leases from './0007-accounts-refresh-leases.js';
import * as m0008bounces from './0008-outbox-bounces.js';
import * as m0009alerts from './0009-operator-alerts-credentials.js';
import * as m0010devices from './0010-dashboard-known-devices.js';
import * as m0011apiKeys from './0011-orgs-api-key-scopes.js';
import * as m0012warmup from './0012-warmup.js';
import * as m0013webhookEndpoints from './0013-webhooks-endpoints.js';
import * as m0016refreshReads from './0016-tokens-refresh-reads.js';
import * as m0019warmupPoolPlacements from './0019-warmup-pool-placements.js';
import * as m0020warmupInboundWindow from './0020-warmup-inbound-window.js';
import * as m0021outboxDueIndexes from './0021-outbox-due-indexes.js';
import * as m0022outboxDropUnusedIndexes from './0022-outbox-drop-unused-indexes.js';

/**
 * Every migration, by name. Names are `NNNN-<module>-<what>` and run in name order; never rename or edit one that
 * has shipped: add the next number. A static list (not a directory scan) works the same under tsx, a bundle or
 * compiled JavaScript.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001-vault': m0001,
  '0002-accounts': m0002,
  '0003-dashboard-sign-in-failures': m0003dashboard,
  '0004-connect-approval-requests': m0004connect,
  '0005-outbox': m0005outbox,
  '0006-webhooks-delivery-log': m0006webhooks,
  '0007-accounts-refresh-leases': m0007leases,
  '0008-outbox-bounces': m0008bounces,
  '0009-operator-alerts-credentials': m0009alerts,
  '0010-dashboard-known-devices': m0010devices,
  '0011-orgs-api-key-scopes': m0011apiKeys,
  '0012-warmup': m0012warmup,
  '0013-webhooks-endpoints': m0013webhookEndpoints,
  '0016-tokens-refresh-reads': m0016refreshReads,
  '0019-warmup-pool-placements': m0019warmupPoolPlacements,
  '0020-warmup-inbound-window': m0020warmupInboundWindow,
  '0021-outbox-due-indexes': m0021outboxDueIndexes,
  '0022-outbox-drop-unused-indexes': m0022outboxDropUnusedIndexes,
};
