import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { lanesWithDueWork } from '../../src/outbox/pacing.js';
import { systemClock } from '../../src/platform/clock.js';
import { openTestDatabase, TEST_DIALECTS, type TestDatabase } from '../support/databases.js';

/**
 * `lanesWithDueWork` skips from lane to lane through the queued index and looks only at each lane's earliest due
 * time, plus the expired leases (issue 14, migration 0021). These cases are the ways such a scan could miss a lane
 * or take one too many: each lane below is due, or not, for exactly one reason.
 */

const NOW = 1_800_000_000_000;
const MINUTE = 60_000;

interface Row {
  lane: string;
  status: 'queued' | 'sending' | 'held' | 'sent' | 'failed';
  next?: number | null;
  lease?: number | null;
}

let sequence = 0;

async function insertMessages(db: Kysely<Database>, organizationId: string, rows: Row[]): Promise<void> {
  await db
    .insertInto('outbox_messages')
    .values(
      rows.map((row) => {
        sequence += 1;
        return {
          id: `msg_${String(sequence).padStart(6, '0')}`,
          organization_id: organizationId,
          account_id: null,
          owner_external_id: null,
          provider: 'default',
          lane: row.lane,
          status: row.status,
          from_address: 'a@example.test',
          subject: 's',
          payload: '{}',
          recipient_count: 1,
          attachment_count: 0,
          size_bytes: 100,
          internet_message_id: `<${sequence}@example.test>`,
          next_attempt_at: row.next ?? null,
          lease_owner: row.status === 'sending' ? 'worker' : null,
          lease_until: row.lease ?? null,
          attempts: 0,
          created_at: NOW - MINUTE,
          updated_at: NOW - MINUTE,
        };
      }),
    )
    .execute();
}

async function pacing(
  db: Kysely<Database>,
  lane: string,
  values: { served?: number; throttled?: number; paced?: number },
): Promise<void> {
  await db
    .insertInto('outbox_pacing')
    .values({
      lane,
      last_claimed_at: values.served ?? null,
      throttled_until: values.throttled ?? null,
      paced_until: values.paced ?? null,
      updated_at: NOW,
    })
    .execute();
}

for (const dialect of TEST_DIALECTS) {
  describe(`outbox: lanes with due work [${dialect}]`, () => {
    let database: TestDatabase;

    before(async () => {
      database = await openTestDatabase(dialect);
      const db = database.db;
      const organization = await createOrganization(db, systemClock, { name: 'Due lanes' });
      const due = NOW - 1_000;
      const later = NOW + 10 * MINUTE;
      await insertMessages(db, organization.id, [
        // a: the lane's first message (by id) is not due, a later one is.
        { lane: 'a', status: 'queued', next: later },
        { lane: 'a', status: 'queued', next: later + MINUTE },
        { lane: 'a', status: 'queued', next: due },
        // b: queued, none due yet.
        { lane: 'b', status: 'queued', next: later },
        { lane: 'b', status: 'queued', next: NOW + 1 },
        // c: only an expired lease (its worker died).
        { lane: 'c', status: 'sending', lease: NOW - 1 },
        // d: only a live lease, and a lease that ends exactly now (not expired: `lease_until < now`).
        { lane: 'd', status: 'sending', lease: NOW + MINUTE },
        { lane: 'd', status: 'sending', lease: NOW },
        // e: due but throttled (Retry-After); f: due but paced; g: due, its throttle over.
        { lane: 'e', status: 'queued', next: due },
        { lane: 'f', status: 'queued', next: due },
        { lane: 'g', status: 'queued', next: due },
        // h: only finished, held and failed messages, between lanes with work (the skip scan must step over it).
        { lane: 'h', status: 'sent' },
        { lane: 'h', status: 'held' },
        { lane: 'h', status: 'failed', next: due },
        // i: due exactly now; a queued message without a due time beside it.
        { lane: 'i', status: 'queued', next: null },
        { lane: 'i', status: 'queued', next: NOW },
        // j: a queued message without a due time only.
        { lane: 'j', status: 'queued', next: null },
        // k: both a due message and an expired lease (one lane, once); l: an expired lease and nothing due queued.
        { lane: 'k', status: 'queued', next: due },
        { lane: 'k', status: 'sending', lease: NOW - MINUTE },
        { lane: 'l', status: 'queued', next: later },
        { lane: 'l', status: 'sending', lease: NOW - MINUTE },
        // m, n, o: due, served at different times (o and n tie: by lane then).
        { lane: 'm', status: 'queued', next: due },
        { lane: 'n', status: 'queued', next: due },
        { lane: 'o', status: 'queued', next: due },
        // A lane whose name sorts before every other (the skip scan's first probe).
        { lane: '0', status: 'queued', next: due },
      ]);
      // Served order: lanes without a pacing row (never served) first, then least recently served.
      await pacing(db, 'a', { served: NOW - 5 * MINUTE });
      await pacing(db, 'c', { served: NOW - 2 * MINUTE });
      await pacing(db, 'e', { served: 1, throttled: NOW + MINUTE });
      await pacing(db, 'f', { served: 1, paced: NOW + 1 });
      await pacing(db, 'g', { served: NOW - 9 * MINUTE, throttled: NOW, paced: NOW - MINUTE });
      await pacing(db, 'k', { served: NOW - MINUTE });
      await pacing(db, 'm', { served: NOW - 3 * MINUTE });
      await pacing(db, 'n', { served: NOW - 4 * MINUTE });
      await pacing(db, 'o', { served: NOW - 4 * MINUTE });
      // A pacing row with nothing served yet counts as never served.
      await pacing(db, 'i', {});
    });
    after(async () => {
      await database?.close();
    });

    it('finds every lane with a due message or an expired lease, skips paused ones, least recently served first', async () => {
      assert.deepEqual(await lanesWithDueWork(database.db, NOW, 100), [
        '0',
        'i',
        'l',
        'g',
        'a',
        'n',
        'o',
        'm',
        'c',
        'k',
      ]);
    });

    it('stops at the limit, in the same order', async () => {
      assert.deepEqual(await lanesWithDueWork(database.db, NOW, 3), ['0', 'i', 'l']);
      assert.deepEqual(await lanesWithDueWork(database.db, NOW, 1), ['0']);
    });

    it('a lane becomes due when its earliest message does, and a lease when it ends', async () => {
      // An hour on: every queued message with a due time is due, d's leases have ended, every pause is over.
      assert.deepEqual(await lanesWithDueWork(database.db, NOW + 60 * MINUTE, 100), [
        '0',
        'b',
        'd',
        'i',
        'l',
        'e',
        'f',
        'g',
        'a',
        'n',
        'o',
        'm',
        'c',
        'k',
      ]);
      // Ten minutes earlier nothing was due yet and no lease had ended.
      assert.deepEqual(await lanesWithDueWork(database.db, NOW - 10 * MINUTE, 100), []);
    });
  });
}
