import { z } from 'zod';
import { CONNECT_STATUSES } from '../connect/connect-ends.js';
import { PERMISSION_PROFILES } from '../connect/permission-profiles.js';
import { EVENT_TYPES, type EventType } from '../events/event-recorder.js';
import { HEALTH_STATUSES } from '../health/health.js';
import { accountIdSchema, apiComponents, cursorSchema, limitSchema, timestamp } from '../http/common-schemas.js';
import { remediationSchema } from './api-schemas.js';

/**
 * Every event type as a schema with its typed `data` (the same body `GET /v1/events` lists and webhooks POST), for
 * the OpenAPI document's components and its `webhooks` section (openapi.ts). The data shapes are those the modules
 * record (src/accounts/, src/connect/, src/health/, src/outbox/, src/bounces/, src/owners/); a recorded event that
 * does not parse here fails `test/api/api-accounts.test.ts` and the outbox tests that read events.
 */

const nullableString = z.string().nullable();
/** Microsoft's evidence behind a status (docs/remediation.md): codes and ids, never a token. */
const evidence = z.record(z.string(), z.unknown()).meta({ description: "Microsoft's evidence (docs/remediation.md)." });

const accountConnectedData = z.looseObject({
  accountId: z.string(),
  ownerId: z.string(),
  provider: z.literal('microsoft'),
  email: z.string(),
  tenantId: z.string(),
  permissionProfile: z.enum(PERMISSION_PROFILES),
  scopes: z.array(z.string()),
  connectSessionId: z.string().optional(),
});

const connectEndData = {
  connectSessionId: z.string(),
  ownerId: z.string(),
};

/** What each message event carries besides its own fields (src/outbox/message-events.ts). */
const messageData = {
  messageId: z.string(),
  accountId: nullableString,
  ownerId: nullableString,
  provider: z.enum(['microsoft', 'default']),
  internetMessageId: z.string(),
  attempts: z.number().int(),
};
const messageRemediation = z.looseObject({ title: z.string(), user: z.string().optional(), operator: z.string() });

const EVENT_DATA = {
  'account.connected': accountConnectedData,
  'account.reconnected': accountConnectedData,
  'account.status_changed': z.looseObject({
    accountId: z.string(),
    email: z.string(),
    status: z.enum(HEALTH_STATUSES),
    reason: nullableString,
    previousStatus: z.enum(HEALTH_STATUSES),
    previousReason: nullableString,
    remediation: remediationSchema,
    evidence: evidence.optional(),
  }),
  'account.disconnected': z.looseObject({
    accountId: z.string(),
    ownerId: z.string(),
    email: z.string(),
    previousStatus: z.enum(HEALTH_STATUSES),
    reason: z.string(),
    emailProvider: z.object({ from: z.literal('microsoft'), to: z.literal('default') }).optional(),
  }),
  'owner.deleted': z.looseObject({ ownerId: z.string(), accountIds: z.array(z.string()) }),
  'connect.completed': z.looseObject({
    ...connectEndData,
    status: z.enum(['connected', 'reconnected']),
    accountId: z.string(),
  }),
  'connect.failed': z.looseObject({
    ...connectEndData,
    status: z.enum(CONNECT_STATUSES).meta({ description: '`expired`: the user never came back before `expiresAt`.' }),
    reason: nullableString,
  }),
  'connect.cancelled': z.looseObject({ ...connectEndData, status: z.literal('cancelled'), reason: nullableString }),
  'tenant.admin_approval_requested': z.looseObject({
    ownerId: z.string(),
    connectSessionId: z.string(),
    tenantId: nullableString,
    reason: z.string(),
    clientId: z.string(),
  }),
  'tenant.admin_consent_granted': z.looseObject({
    tenantId: z.string(),
    clientId: z.string(),
    scopes: z.array(z.string()),
    connectSessionId: z.string(),
    ownerId: z.string(),
  }),
  'app.misconfigured': z.looseObject({
    reason: z.string(),
    remediation: remediationSchema,
    evidence: evidence.optional(),
  }),
  'app.recovered': z.looseObject({ reasons: z.array(z.string()), openedAt: timestamp, resolvedAt: timestamp }),
  'app.secret_expiring': z.looseObject({
    expiresAt: timestamp,
    daysLeft: z.number().int(),
    warning: z.string(),
    remediation: z.object({ title: z.string(), operator: z.string() }),
  }),
  'message.sent': z.looseObject({
    ...messageData,
    status: z.literal('sent'),
    from: z.string(),
    confirmedBy: z.literal('sent_items_lookup').optional(),
  }),
  'message.failed': z.looseObject({
    ...messageData,
    status: z.enum(['failed', 'outcome_unknown']),
    reason: z.string(),
    detail: nullableString.optional(),
    heldReason: nullableString.optional(),
    message: z.string(),
    remediation: messageRemediation,
  }),
  'message.held': z.looseObject({
    ...messageData,
    status: z.literal('held'),
    reason: nullableString,
    detail: nullableString,
    expiresAt: timestamp.nullable(),
    remediation: messageRemediation.optional(),
  }),
  'message.released': z.looseObject({ ...messageData, status: z.literal('queued') }),
  'message.canceled': z.looseObject({ ...messageData, status: z.literal('canceled'), previousStatus: z.string() }),
  'message.bounced': z.looseObject({
    ...messageData,
    status: z.literal('bounced'),
    reason: z.string(),
    bounceStatus: z.string(),
    detail: z.string(),
    remediation: messageRemediation,
  }),
  // Warm-up (src/warmup/): every figure is within the warm-up network (docs/warmup.md §F).
  'warmup.started': z.looseObject({
    accountId: z.string(),
    state: z.string(),
    settings: z.record(z.string(), z.unknown()).meta({ description: "The user's warm-up options as saved." }),
  }),
  'warmup.paused': z.looseObject({
    accountId: z.string().optional(),
    state: z.string().optional(),
    reason: z
      .string()
      .meta({ description: 'Why: `user`, `address_bounced`, or a safety reason of docs/warmup.md §G.' }),
    until: timestamp.nullable().optional(),
    remediation: nullableString.optional(),
    enhancedStatus: z.string().optional(),
  }),
  'warmup.quarantined': z.looseObject({
    state: z.enum(['quarantined', 'blocked']),
    reason: z.string(),
    until: timestamp.nullable(),
    remediation: z.string(),
  }),
  'warmup.resumed': z.looseObject({
    accountId: z.string().optional(),
    state: z.string(),
    previousState: z.string().optional(),
    until: timestamp.nullable(),
    remediation: nullableString.optional(),
  }),
  'warmup.health_changed': z.looseObject({
    accountId: z.string(),
    scope: z.literal('warmup_network'),
    previous: z.number().nullable(),
    health: z.number().nullable(),
    inboxRate: z.number().nullable(),
    observed: z.number().int(),
  }),
} as const satisfies Record<EventType, z.ZodType>;

/** `account.status_changed` → `AccountStatusChangedEvent`: the component id of each event type. */
export function eventComponentId(type: EventType): string {
  const words = type.split(/[._]/).map((word) => `${word.charAt(0).toUpperCase()}${word.slice(1)}`);
  return `${words.join('')}Event`;
}

function eventOf<T extends EventType>(type: T) {
  return z
    .object({
      id: z.string(),
      type: z.literal(type),
      organizationId: z.string().meta({ description: 'The organisation the event belongs to.' }),
      createdAt: timestamp,
      accountId: nullableString,
      ownerId: nullableString,
      data: EVENT_DATA[type],
    })
    .register(apiComponents, { id: eventComponentId(type) });
}

/** Each event type's schema, by type. */
export const EVENT_SCHEMAS = Object.fromEntries(EVENT_TYPES.map((type) => [type, eventOf(type)])) as {
  [T in EventType]: ReturnType<typeof eventOf<T>>;
};

export const eventSchema = z
  .discriminatedUnion(
    'type',
    EVENT_TYPES.map((type) => EVENT_SCHEMAS[type]) as unknown as [
      ReturnType<typeof eventOf>,
      ...ReturnType<typeof eventOf>[],
    ],
  )
  .meta({ description: 'An event: its `type` says which, and what `data` holds (webhooks carry the same body).' })
  .register(apiComponents, { id: 'Event' });

export const eventListSchema = z
  .object({
    data: z.array(eventSchema),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last.' }),
  })
  .register(apiComponents, { id: 'EventList' });

export const listEventsQuery = z.strictObject({
  after: cursorSchema('events').optional(),
  limit: limitSchema,
  type: z
    .string()
    .regex(/^[a-z][a-z_]*\.[a-z][a-z_]*$/, { message: 'must be an event type such as account.disconnected' })
    .optional()
    .meta({ description: 'Only events of this type (e.g. `account.disconnected`).' }),
  accountId: accountIdSchema.optional(),
});
