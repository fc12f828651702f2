import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { WarmupMessagesTable } from '../../src/db/tables/warmup.js';
import { AppError } from '../../src/errors/app-error.js';
import { EventRecorder, listEvents } from '../../src/events/event-recorder.js';
import { ManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { blankWarmupMessage } from '../../src/warmup/warmup-message-row.js';
import {
  enableWarmup,
  listWarmupPool,
  pauseWarmup,
  readWarmupAccount,
  readWarmupActivity,
  readWarmupDailySeries,
  updateWarmupSettings,
} from '../../src/warmup/warmup-store.js';
import { insertConnectedAccount } from '../support/connected-account.js';
import { forEachDatabase } from '../support/databases.js';

const DAY = 86_400_000;
const WARMUP_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'User.Read', 'Mail.Send', 'Mail.ReadWrite'];

async function seedOrganization(db: Kysely<Database>, clock: ManualClock, name: string): Promise<string> {
  const id = newId('org', clock);
  await db
    .insertInto('organizations')
    .values({ id, name, allowed_return_urls: '[]', created_at: clock.now() })
    .execute();
  return id;
}

async function seedAccount(
  db: Kysely<Database>,
  clock: ManualClock,
  organizationId: string,
  email: string,
  options: { scopes?: string[]; tenantId?: string } = {},
): Promise<string> {
  return insertConnectedAccount(db, clock, organizationId, {
    email,
    ownerExternalId: `owner-${email}`,
    profile: options.scopes ? 'send' : 'warmup',
    scopes: options.scopes ?? WARMUP_SCOPES,
    ...(options.tenantId ? { tenantId: options.tenantId } : {}),
  });
}

/** A warm-up message row as the engine writes it, with the given outcome columns. */
function message(
  clock: ManualClock,
  organizationId: string,
  from: string,
  to: string,
  at: number,
  extra: Partial<WarmupMessagesTable> = {},
): WarmupMessagesTable {
  const id = newId('wum', clock);
  return {
    id,
    organization_id: organizationId,
    sender_account_id: from,
    recipient_account_id: to,
    thread_id: id,
    turn: 0,
    planned_turns: 3,
    subject: 'Lunch on Thursday',
    status: 'sent',
    local_date: new Date(at).toISOString().slice(0, 10),
    planned_at: at,
    ...blankWarmupMessage(),
    internet_message_id: `<${id}@test>`,
    sent_at: at,
    in_reply_to_id: null,
    created_at: at,
    updated_at: at,
    ...extra,
  };
}

forEachDatabase('warm-up store', (getDb) => {
  // Monday 2026-03-02 12:00 UTC: the tests speak of whole UTC days (no time zone stored yet: days are UTC).
  const clock = new ManualClock(Date.parse('2026-03-02T12:00:00Z'));

  it('enables, pauses and resumes with one event each, in the same transaction as the change', async () => {
    const { db } = getDb();
    const events = new EventRecorder({ clock });
    const deps = { db, clock, events };
    const org = await seedOrganization(db, clock, 'Acme');
    const account = await seedAccount(db, clock, org, 'ann@acme.example');

    const before = await readWarmupAccount(db, org, account, clock.now());
    assert.equal(before.state.status, 'off');
    assert.equal(before.enabled, false);

    const started = await enableWarmup(deps, org, account, { dailyCeiling: 12, weekends: true });
    assert.equal(started.enabled, true);
    assert.equal(started.state.status, 'active');
    assert.equal(started.provider, 'microsoft365');
    assert.deepEqual(started.settings, { dailyCeiling: 12, weekends: true, receiveOnly: false });

    clock.advance(60_000);
    const paused = await pauseWarmup(deps, org, account);
    assert.equal(paused.enabled, false);
    assert.equal(paused.state.status, 'paused');
    assert.equal(paused.state.reason, 'user');
    // Idempotent: a second pause records nothing.
    await pauseWarmup(deps, org, account);

    clock.advance(60_000);
    const resumed = await enableWarmup(deps, org, account);
    assert.equal(resumed.state.status, 'active');
    assert.deepEqual(resumed.settings, { dailyCeiling: 12, weekends: true, receiveOnly: false }, 'settings kept');

    const types = (await listEvents(db, org, { limit: 50, accountId: account }))
      .map((e) => e.type)
      .filter((t) => t.startsWith('warmup.'));
    assert.deepEqual(types, ['warmup.started', 'warmup.paused', 'warmup.resumed']);
    const paused1 = (await listEvents(db, org, { limit: 50, type: 'warmup.paused' }))[0];
    assert.equal(paused1?.data['reason'], 'user');
  });

  it('refuses bad settings with every issue, a send-only account with 409, and other organisations with 404', async () => {
    const { db } = getDb();
    const deps = { db, clock, events: new EventRecorder({ clock }) };
    const org = await seedOrganization(db, clock, 'Bravo');
    const other = await seedOrganization(db, clock, 'Other');
    const account = await seedAccount(db, clock, org, 'bob@bravo.example');
    const sendOnly = await seedAccount(db, clock, org, 'sam@bravo.example', {
      scopes: ['openid', 'User.Read', 'Mail.Send'],
    });

    await assert.rejects(
      enableWarmup(deps, org, account, { dailyCeiling: 41, replyRate: 0.9, timeZone: 'Mars/Olympus' }),
      (error: AppError) => {
        assert.equal(error.code, 'WARMUP_SETTINGS_INVALID');
        assert.equal(error.status, 400);
        const paths = ((error.details?.['issues'] ?? []) as { path: string }[]).map((i) => i.path).sort();
        assert.deepEqual(paths, ['dailyCeiling', 'replyRate', 'timeZone']);
        return true;
      },
    );
    await assert.rejects(enableWarmup(deps, org, sendOnly, {}), (error: AppError) => {
      assert.equal(error.code, 'WARMUP_PROFILE_REQUIRED');
      assert.equal(error.status, 409);
      return true;
    });
    await assert.rejects(
      enableWarmup(deps, other, account, {}),
      (error: AppError) => error.code === 'ACCOUNT_NOT_FOUND',
    );
    await assert.rejects(readWarmupAccount(db, other, account, clock.now()), AppError);
    await assert.rejects(
      updateWarmupSettings(deps, org, account, {}),
      (e: AppError) => e.code === 'WARMUP_NOT_ENABLED',
    );
    assert.equal(
      (await db.selectFrom('warmup_accounts').selectAll().where('account_id', 'in', [account, sendOnly]).execute())
        .length,
      0,
      'nothing written',
    );

    await enableWarmup(deps, org, account, {});
    const updated = await updateWarmupSettings(deps, org, account, { replyRate: 0.4, receiveOnly: true });
    assert.deepEqual(updated.settings, { replyRate: 0.4, weekends: false, receiveOnly: true });
  });

  it('reads metrics, the daily series, activity and the pool from the recorded messages', async () => {
    const { db } = getDb();
    const deps = { db, clock, events: new EventRecorder({ clock }) };
    const org = await seedOrganization(db, clock, 'Charlie');
    const a = await seedAccount(db, clock, org, 'a@one.example');
    const b = await seedAccount(db, clock, org, 'b@two.example', { tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad' });
    await enableWarmup(deps, org, a, {});
    await enableWarmup(deps, org, b, {});
    const now = clock.now();
    const yesterday = now - DAY;
    // a → b: two yesterday (one found in Junk and rescued), one today in the Inbox and replied to; b → a: one reply.
    const rows = [
      message(clock, org, a, b, yesterday - 3_600_000, {
        observed_at: yesterday - 3_000_000,
        landed_in: 'junkemail',
        rescued_at: yesterday - 2_900_000,
        read_at: yesterday - 2_900_000,
        filed_at: yesterday - 2_000_000,
      }),
      message(clock, org, a, b, yesterday, { observed_at: yesterday + 60_000, landed_in: 'inbox' }),
      message(clock, org, a, b, now - 7_200_000, {
        observed_at: now - 7_000_000,
        landed_in: 'inbox',
        replied_at: now - 3_600_000,
      }),
      message(clock, org, b, a, now - 3_600_000, { turn: 1, observed_at: now - 3_000_000, landed_in: 'inbox' }),
      message(clock, org, a, b, now + 3_600_000, { status: 'planned', sent_at: null, internet_message_id: null }),
    ];
    await db.insertInto('warmup_messages').values(rows).execute();

    const view = await readWarmupAccount(db, org, a, now);
    const week = view.metrics.last7Days;
    assert.equal(week.scope, 'warmup_network');
    assert.equal(week.sent, 3);
    assert.equal(week.received, 1);
    assert.equal(week.observed, 3);
    assert.equal(week.inboxRate, 2 / 3);
    assert.equal(week.spamRate, 1 / 3);
    assert.equal(week.savedFromSpam, 1);
    assert.equal(week.coverage, 1);
    assert.deepEqual(view.nextSlots, [new Date(now + 3_600_000).toISOString()]);
    assert.equal(view.health, null, 'fewer than 20 observations and under 3 days of warm-up: no score yet');

    const series = await readWarmupDailySeries(db, org, a, { days: 3, now });
    assert.deepEqual(
      series.map((d) => [d.date, d.planned, d.sent, d.received, d.inbox, d.junk, d.savedFromSpam, d.replies]),
      [
        ['2026-02-28', 0, 0, 0, 0, 0, 0, 0],
        ['2026-03-01', 2, 2, 0, 1, 1, 1, 0],
        ['2026-03-02', 2, 1, 1, 1, 0, 0, 0],
      ],
    );
    const bSeries = await readWarmupDailySeries(db, org, b, { days: 1, now });
    assert.deepEqual(bSeries[0], {
      date: '2026-03-02',
      planned: 1,
      sent: 1,
      received: 1,
      inbox: 1,
      junk: 0,
      savedFromSpam: 0,
      replies: 1,
    });

    const activity = await readWarmupActivity(db, org, a, 10);
    assert.equal(activity.length, 5);
    assert.equal(activity[0]?.status, 'planned');
    const rescued = activity.find((item) => item.landedIn === 'junkemail');
    assert.equal(rescued?.direction, 'sent');
    assert.equal(rescued?.counterpart.email, 'b@two.example');
    assert.ok(rescued?.actions.rescued && rescued.actions.read && rescued.actions.filed);
    const inbound = activity.find((item) => item.direction === 'received');
    assert.equal(inbound?.counterpart.accountId, b);

    const pool = await listWarmupPool(db, org, now);
    assert.deepEqual(
      pool.members.map((m) => [m.email, m.state, m.sent7Days, m.received7Days]),
      [
        ['a@one.example', 'active', 3, 1],
        ['b@two.example', 'active', 1, 3],
      ],
    );
    assert.equal(pool.totals.members, 2);
    assert.equal(pool.totals.byState.active, 2);
    assert.equal(pool.totals.inboxRate7Days, 3 / 4);
    assert.equal((await listWarmupPool(db, await seedOrganization(db, clock, 'Empty'), now)).members.length, 0);
  });
});
