import assert from 'node:assert/strict';
import { EmulatorClock } from '../../emulator/clock.js';
import type { EmulatorContext } from '../../emulator/context.js';
import { type SmtpSink, startSmtpSink } from '../../emulator/smtp-sink.js';
import { createConnectSession } from '../../src/connect/connect-sessions.js';
import type { DbDialect } from '../../src/db/schema.js';
import type { OutboxMessagesTable } from '../../src/db/tables/outbox.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import { type DispatchOptions, dispatchDueMessages } from '../../src/outbox/dispatcher.js';
import { type ApiAnswer, type ApiClient, createApiClient } from '../api/api-test-support.js';
import { Browser, connectThroughMicrosoft, RETURN_URL } from '../connect/connect-test-kit.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * A mailbridge whose clock is the emulator's (frozen: time moves only when a test says so), an emulator with its
 * SMTP sink as the default provider's relay, an organisation with an API key, and helpers to connect demo users
 * through the real connect flow and to drive the dispatcher by hand.
 */
export interface OutboxHarness {
  service: TestService;
  emulator: SeededEmulator;
  ctx: EmulatorContext;
  clock: EmulatorClock;
  sink: SmtpSink;
  client: ApiClient;
  /** Connects a demo user through the hosted connect flow (SignInDriver at the emulator); returns the account id. */
  connect(email: string, options?: { profile?: 'send' | 'warmup'; ownerId?: string }): Promise<string>;
  /** One dispatcher round. */
  dispatch(options?: DispatchOptions): Promise<number>;
  /** Rounds until nothing is due (without moving the clock). */
  drain(options?: DispatchOptions): Promise<number>;
  /** Moves both clocks (they are one). */
  advance(seconds: number): void;
  send(path: string, body: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  message(id: string): Promise<OutboxMessagesTable>;
  close(): Promise<void>;
}

export const SMTP_FROM = 'Acme Notifications <notifications@acme-mail.example>';

export async function startOutboxHarness(
  dialect: DbDialect,
  options: { env?: Record<string, string> } = {},
): Promise<OutboxHarness> {
  // Frozen ten minutes behind real time: id_tokens the emulator signs are then never "issued in the future" for
  // openid-client's real-time checks, even after a test moves the clock a few minutes.
  const clock = new EmulatorClock({ startAt: Date.now() - 10 * 60_000, frozen: true });
  const emulator = await startSeededEmulator({
    clock,
    urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
    redirectUris: [],
  });
  const sink = await startSmtpSink(emulator.ctx);
  const service = await startTestService({
    dialect,
    sharedEmulator: emulator,
    clock: { now: () => clock.now() },
    env: { SMTP_URL: `smtp://127.0.0.1:${sink.port}`, SMTP_FROM, ...options.env },
  });
  emulator.seed.app.redirectUris.push(
    `${service.url}/connect/callback`,
    `${service.url}/connect/admin-consent/callback`,
  );
  const client = await createApiClient(service, 'Acme Recruiting', ['https://app.example.com/mailbridge']);
  const workerId = `test-worker-${Math.random().toString(36).slice(2, 8)}`;
  const dispatch = (extra: DispatchOptions = {}) =>
    dispatchDueMessages(service.deps, { workerId, limit: 20, lookupDelayMs: 30_000, ...extra });

  return {
    service,
    emulator,
    ctx: emulator.ctx,
    clock,
    sink,
    client,
    async connect(email, connectOptions = {}) {
      const session = await createConnectSession(service.deps, {
        organizationId: client.organization.id,
        ownerExternalId: connectOptions.ownerId ?? `owner-of-${email}`,
        permissionProfile: connectOptions.profile ?? 'send',
        returnUrl: RETURN_URL,
      });
      const { page } = await connectThroughMicrosoft(service, new Browser(), session.id, { email });
      assert.ok([200, 303].includes(page.status), `connect page answered ${page.status}`);
      const account = await service.deps.db
        .selectFrom('accounts')
        .select(['id', 'status'])
        .where('organization_id', '=', client.organization.id)
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
      assert.equal(account.status, 'connected');
      return account.id;
    },
    dispatch,
    async drain(extra = {}) {
      let total = 0;
      for (let round = 0; round < 200; round++) {
        const count = await dispatch(extra);
        if (count === 0) return total;
        total += count;
      }
      throw new Error('the outbox did not drain in 200 rounds');
    },
    advance(seconds) {
      clock.advance(seconds);
    },
    send: (path, body, headers = {}) => client.call('POST', path, body, headers),
    message: (id) =>
      service.deps.db.selectFrom('outbox_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    async close() {
      await service.close();
      await sink.close();
      await emulator.close();
    },
  };
}

/** Deliveries the emulator's transport logged for a Message-ID (one per accepted submission). */
export function deliveriesOf(ctx: EmulatorContext, internetMessageId: string) {
  return ctx.world.deliveries.filter((delivery) => delivery.internetMessageId === internetMessageId);
}

/** Copies of a message in a user's mailbox, by Message-ID, with their folder's well-known name. */
export function copiesIn(ctx: EmulatorContext, userId: string, internetMessageId: string) {
  const mailbox = ctx.world.mailboxes[userId];
  if (!mailbox) return [];
  return Object.values(mailbox.messages)
    .filter((message) => message.internetMessageId === internetMessageId)
    .map((message) => ({ message, folder: mailbox.folders[message.parentFolderId]?.wellKnownName ?? null }));
}

export async function eventsOf(harness: OutboxHarness, messageId: string) {
  const rows = await harness.service.deps.db
    .selectFrom('events')
    .select(['type', 'data'])
    .where('organization_id', '=', harness.client.organization.id)
    .orderBy('id')
    .execute();
  return rows
    .map((row) => ({ type: row.type, data: JSON.parse(row.data) as Record<string, unknown> }))
    .filter((event) => event.data.messageId === messageId);
}
