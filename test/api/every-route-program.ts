import {
  createMailbridgeClient,
  type Operation,
  type ResponseBody,
  type Schema,
  type WebhookEvent,
} from '../../clients/typescript/src/index.js';

/**
 * A host app's program that uses every route of the host API through the TypeScript client, reading the fields a
 * host app would read. test/api/openapi-generated-types.test.ts type-checks it (strict) against types generated
 * from the running service's document and runs it against that service: a route, parameter, body or answer the
 * document describes differently from what the routes do fails one or the other. Every call is written
 * `request('<METHOD>', '<document path>'`, which is how the test finds which routes it covers. It also reads a webhook
 * delivery as the document's `webhooks` section types it.
 */
export interface EveryRouteSetup {
  baseUrl: string;
  /** An admin-scoped key of an organisation. */
  apiKey: string;
  /** An owner of that organisation with one connected Microsoft account, `accountId`. */
  ownerId: string;
  accountId: string;
  /** A receiver answering 2XX to deliveries signed with either secret. */
  receiverUrl: string;
  webhookSecrets: readonly [string, string];
  /** The worker's webhook delivery round; resolves with the raw body the receiver last accepted. */
  deliverWebhooks(): Promise<string>;
}

type SendFromAccount = Operation<'POST', '/v1/accounts/{id}/messages'>;

export interface EveryRouteResult {
  /** Each answer's HTTP status, in call order. */
  statuses: number[];
  documentVersion: unknown;
  organizationName: string;
  sessionState: Schema<'ConnectSessionState'>['state'];
  accountEmail: string;
  /** The send and its retry with the same `Idempotency-Key`, and their answers' statuses. */
  queued: ResponseBody<SendFromAccount, 202>;
  replayed: ResponseBody<SendFromAccount, 200>;
  sendStatuses: number[];
  canceled: Schema<'Message'>['status'];
  listedMessageIds: string[];
  deletedOwnerEvent: string | undefined;
  /** The owner id of the `owner.deleted` delivery, read as the `webhooks` section types it. */
  deliveredOwnerId: string;
  retriedDelivery: Schema<'WebhookDelivery'>['status'];
  revokedKey: Schema<'ApiKey'>['status'];
  /** Warm-up as `PUT` answered it and `GET` reads it back. */
  warmupEnabled: boolean;
  warmupPoolSize: number;
  disconnected: Schema<'Account'>['status'];
}

export async function useEveryRoute(setup: EveryRouteSetup): Promise<EveryRouteResult> {
  const statuses: number[] = [];
  const mailbridge = createMailbridgeClient({
    baseUrl: setup.baseUrl,
    apiKey: setup.apiKey,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    },
  });
  const document = await mailbridge.request('GET', '/v1/openapi.json');

  const organization = await mailbridge.request('GET', '/v1/organization');
  const returnUrl = 'https://app.example.com/mailbridge/done';
  const updated = await mailbridge.request('PATCH', '/v1/organization', {
    body: { allowedReturnUrls: [returnUrl] },
  });

  const [firstSecret, secondSecret] = setup.webhookSecrets;
  const endpoint = await mailbridge.request('POST', '/v1/webhook-endpoints', {
    body: { url: setup.receiverUrl, eventTypes: ['owner.deleted'], secret: firstSecret },
  });
  const endpoints = await mailbridge.request('GET', '/v1/webhook-endpoints');
  const sameEndpoint = await mailbridge.request('GET', '/v1/webhook-endpoints/{id}', { path: { id: endpoint.id } });
  await mailbridge.request('PATCH', '/v1/webhook-endpoints/{id}', {
    path: { id: endpoint.id },
    body: { enabled: true, eventTypes: [...(sameEndpoint.eventTypes ?? []), 'connect.completed'] },
  });
  const rotated = await mailbridge.request('POST', '/v1/webhook-endpoints/{id}/rotate-secret', {
    path: { id: endpoint.id },
    body: { overlapSeconds: 600, secret: secondSecret },
  });
  if (endpoints.data.length !== 1 || rotated.previousSecretExpiresAt === null) throw new Error('endpoint not rotated');

  const leaving = 'owner-who-leaves';
  const session = await mailbridge.request('POST', '/v1/connect-sessions', {
    body: { ownerId: leaving, returnUrl: updated.allowedReturnUrls[0] ?? returnUrl, permissionProfile: 'send' },
  });
  const state = await mailbridge.request('GET', '/v1/connect-sessions/{id}', { path: { id: session.id } });

  const accounts = await mailbridge.request('GET', '/v1/accounts', { query: { ownerId: setup.ownerId, limit: 10 } });
  const accountId = accounts.data[0]?.id ?? setup.accountId;
  const account = await mailbridge.request('GET', '/v1/accounts/{id}', { path: { id: accountId } });
  const owner = await mailbridge.request('GET', '/v1/owners/{ownerId}', { path: { ownerId: setup.ownerId } });
  if (owner.emailProvider === 'default') {
    await mailbridge.request('PUT', '/v1/owners/{ownerId}/email-provider', {
      path: { ownerId: owner.ownerId },
      body: { provider: 'microsoft' },
    });
  }

  // A send retried with its Idempotency-Key (a timeout, a crash before the answer was read): 202, then the original
  // message again with 200, each typed by its own declared answer.
  const message = { to: 'candidate@example.org', subject: 'Quick question', text: 'Hi!' };
  const idempotency = { 'Idempotency-Key': `order-1234-${session.id}` };
  const queued: ResponseBody<SendFromAccount, 202> = await mailbridge.request('POST', '/v1/accounts/{id}/messages', {
    path: { id: account.id },
    header: idempotency,
    body: message,
  });
  const firstStatus = statuses.at(-1) ?? 0;
  const replayed: ResponseBody<SendFromAccount, 200> = await mailbridge.request('POST', '/v1/accounts/{id}/messages', {
    path: { id: account.id },
    header: idempotency,
    body: message,
  });
  const sendStatuses = [firstStatus, statuses.at(-1) ?? 0];

  const later = new Date(Date.now() + 24 * 3600_000).toISOString();
  const scheduled = await mailbridge.request('POST', '/v1/owners/{ownerId}/messages', {
    path: { ownerId: setup.ownerId },
    body: { ...message, sendAt: later },
  });
  const canceled = await mailbridge.request('POST', '/v1/messages/{id}/cancel', { path: { id: scheduled.id } });
  const listed = await mailbridge.request('GET', '/v1/messages', { query: { ownerId: setup.ownerId } });
  const detail = await mailbridge.request('GET', '/v1/messages/{id}', { path: { id: queued.id } });

  await mailbridge.request('DELETE', '/v1/owners/{ownerId}', { path: { ownerId: leaving } });
  const events = await mailbridge.request('GET', '/v1/events', { query: { type: 'owner.deleted' } });
  // The event union narrows on `type`: each type's `data` is typed.
  const deletedOwner = events.data.map((event) => (event.type === 'owner.deleted' ? event.data.ownerId : undefined));
  const delivered: WebhookEvent<'owner.deleted'> = JSON.parse(await setup.deliverWebhooks());
  const deliveries = await mailbridge.request('GET', '/v1/webhook-deliveries', {
    query: { endpointId: endpoint.id, status: 'delivered' },
  });
  const delivery = deliveries.data[0];
  if (!delivery) throw new Error('no delivered webhook to retry');
  const retried = await mailbridge.request('POST', '/v1/webhook-deliveries/{id}/retry', { path: { id: delivery.id } });
  await mailbridge.request('DELETE', '/v1/webhook-endpoints/{id}', { path: { id: endpoint.id } });

  const created = await mailbridge.request('POST', '/v1/api-keys', { body: { name: 'CI', scope: 'standard' } });
  const keys = await mailbridge.request('GET', '/v1/api-keys');
  const revoked = await mailbridge.request('DELETE', '/v1/api-keys/{id}', {
    path: { id: keys.data.find((key) => key.prefix === created.prefix)?.id ?? created.id },
  });

  // Warm-up: the account was connected with the `warmup` profile, so it may opt in.
  const warmupEnabled = await mailbridge.request('PUT', '/v1/accounts/{id}/warmup', {
    path: { id: account.id },
    body: { enabled: true, settings: { dailyCeiling: 10 } },
  });
  const warmup = await mailbridge.request('GET', '/v1/accounts/{id}/warmup', { path: { id: account.id } });
  const pool = await mailbridge.request('GET', '/v1/warmup');

  const disconnected = await mailbridge.request('DELETE', '/v1/accounts/{id}', { path: { id: account.id } });

  return {
    statuses,
    documentVersion: document['openapi'],
    organizationName: organization.name,
    sessionState: state.state,
    accountEmail: account.email,
    queued,
    replayed,
    sendStatuses,
    canceled: canceled.status,
    listedMessageIds: listed.data.map((item) => item.id).concat(detail.id),
    deletedOwnerEvent: deletedOwner.at(-1),
    deliveredOwnerId: delivered.data.ownerId,
    retriedDelivery: retried.status,
    revokedKey: revoked.status,
    warmupEnabled: warmupEnabled.enabled && warmup.enabled,
    warmupPoolSize: pool.members.length,
    disconnected: disconnected.status,
  };
}
