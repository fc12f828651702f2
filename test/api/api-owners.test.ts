import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ownerSchema } from '../../src/api/api-schemas.js';
import type { OutboxMessagesTable } from '../../src/db/tables/outbox.js';
import { newId } from '../../src/platform/ids.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  type ApiClient,
  createApiClient,
  dataKeyRows,
  type SeededAccount,
  seedAccount,
  tokenRows,
} from './api-test-support.js';

const TENANT_SHARED = '11111111-2222-3333-4444-555555555555';
const TENANT_ALICE_ONLY = '66666666-7777-8888-9999-000000000000';

for (const dialect of TEST_DIALECTS) {
  describe(`host API: owners [${dialect}]`, () => {
    let service: TestService;
    let client: ApiClient;

    before(async () => {
      service = await startTestService({ dialect });
      client = await createApiClient(service, 'Owners Inc', ['https://app.example.com/']);
    });
    after(() => service.close());

    /** A connect session made through the API, whose PKCE verifier is sealed under its own data key. */
    async function connectSession(ownerId: string): Promise<string> {
      const answer = await client.call('POST', '/v1/connect-sessions', {
        ownerId,
        returnUrl: 'https://app.example.com/done',
      });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      const id: string = answer.body.id;
      const { db, vault } = service.deps;
      await vault.ensureDataKey(db, id);
      const sealed = await vault.seal(db, id, 'code_verifier', PlaintextSecret.from(`verifier-${id}`));
      await db
        .updateTable('connect_sessions')
        .set({ code_verifier: sealed, status: 'started' })
        .where('id', '=', id)
        .execute();
      return id;
    }

    async function message(ownerId: string, accountId: string | null): Promise<string> {
      const now = service.deps.clock.now();
      const id = newId('msg');
      const row: OutboxMessagesTable = {
        id,
        organization_id: client.organization.id,
        account_id: accountId,
        owner_external_id: ownerId,
        provider: accountId ? 'microsoft' : 'default',
        lane: accountId ?? 'default',
        status: 'sent',
        from_address: `${ownerId}@example.com`,
        subject: `hello from ${ownerId}`,
        payload: '{}',
        recipient_count: 1,
        attachment_count: 0,
        size_bytes: 10,
        idempotency_key: null,
        request_hash: null,
        internet_message_id: `<mb.${id}@test>`,
        send_mode: null,
        graph_draft_id: null,
        recovery: null,
        send_at: null,
        next_attempt_at: null,
        lease_owner: null,
        lease_until: null,
        attempts: 1,
        failure_reason: null,
        failure_message: null,
        failure_remediation: null,
        held_reason: null,
        held_detail: null,
        held_since: null,
        held_expires_at: null,
        sent_at: now,
        canceled_at: null,
        bounced_at: null,
        bounce_status: null,
        created_at: now,
        updated_at: now,
      };
      await service.deps.db.insertInto('outbox_messages').values(row).execute();
      return id;
    }

    describe('email provider', () => {
      it('"microsoft" needs a Microsoft account that can send; "default" is always accepted', async () => {
        const unknown = await client.call('PUT', '/v1/owners/nobody/email-provider', { provider: 'microsoft' });
        assert.equal(unknown.status, 409);
        assert.equal(unknown.body.error.code, 'OWNER_NO_CONNECTED_ACCOUNT');
        assert.equal((await client.call('GET', '/v1/owners/nobody')).status, 404);

        await seedAccount(service, {
          organizationId: client.organization.id,
          ownerId: 'chris',
          email: 'chris@example.com',
          status: 'reconnect_required',
          reason: 'refresh_expired',
        });
        const broken = await client.call('PUT', '/v1/owners/chris/email-provider', { provider: 'microsoft' });
        assert.equal(broken.status, 409, 'an account that must reconnect cannot be chosen to send');

        await seedAccount(service, {
          organizationId: client.organization.id,
          ownerId: 'chris',
          email: 'chris2@example.com',
        });
        const chosen = await client.call('PUT', '/v1/owners/chris/email-provider', { provider: 'microsoft' });
        assert.equal(chosen.status, 200);
        assert.deepEqual(chosen.body, { ownerId: 'chris', emailProvider: 'microsoft' });
        const owner = ownerSchema.parse((await client.call('GET', '/v1/owners/chris')).body);
        assert.equal(owner.emailProvider, 'microsoft');

        const back = await client.call('PUT', '/v1/owners/chris/email-provider', { provider: 'default' });
        assert.deepEqual(back.body, { ownerId: 'chris', emailProvider: 'default' });

        // "default" for an owner never seen creates it: PUT sets the state, whatever was there.
        const fresh = await client.call('PUT', '/v1/owners/new%20person/email-provider', { provider: 'default' });
        assert.deepEqual(fresh.body, { ownerId: 'new person', emailProvider: 'default' });
        assert.equal((await client.call('GET', '/v1/owners/new%20person')).status, 200);
      });
    });

    describe('deletion', () => {
      let alice: SeededAccount[];
      let bob: SeededAccount;
      let aliceSessions: string[];
      let bobSession: string;
      let bobMessage: string;

      before(async () => {
        const org = client.organization.id;
        alice = [
          await seedAccount(service, { organizationId: org, ownerId: 'alice', email: 'alice@example.com' }),
          await seedAccount(service, {
            organizationId: org,
            ownerId: 'alice',
            email: 'alice@work.example',
            tenantId: TENANT_SHARED,
          }),
        ];
        bob = await seedAccount(service, { organizationId: org, ownerId: 'bob', email: 'bob@example.com' });
        aliceSessions = [await connectSession('alice'), await connectSession('alice')];
        bobSession = await connectSession('bob');
        await client.call('DELETE', `/v1/accounts/${alice[0]?.id}`); // one disconnected account: deleted all the same
        assert.equal(
          (await client.call('PUT', '/v1/owners/alice/email-provider', { provider: 'microsoft' })).status,
          200,
        );

        const owners = await service.deps.db
          .selectFrom('owners')
          .select(['id', 'external_id'])
          .where('organization_id', '=', org)
          .execute();
        const ownerRow = (externalId: string) => owners.find((o) => o.external_id === externalId)?.id ?? '';
        const now = service.deps.clock.now();
        await service.deps.db
          .insertInto('tenant_approvals')
          .values([
            {
              organization_id: org,
              tenant_id: TENANT_SHARED,
              status: 'pending',
              waiting_owner_ids: JSON.stringify([ownerRow('alice'), ownerRow('bob')]),
              requested_at: now,
              granted_at: null,
            },
            {
              organization_id: org,
              tenant_id: TENANT_ALICE_ONLY,
              status: 'pending',
              waiting_owner_ids: JSON.stringify([ownerRow('alice')]),
              requested_at: now,
              granted_at: null,
            },
          ])
          .execute();
        const { vault, db } = service.deps;
        const handOff = aliceSessions[1] ?? '';
        await db
          .insertInto('connect_approval_requests')
          .values({
            id: newId('apr'),
            organization_id: org,
            session_id: handOff,
            owner_external_id: 'alice',
            state_hash: `hash-${handOff}`,
            state_sealed: await vault.seal(db, handOff, 'approval_state', PlaintextSecret.from('state')),
            tenant_id: null,
            reason: 'admin_approval_required',
            status: 'pending',
            created_at: now,
            expires_at: now + 86_400_000,
            resolved_at: null,
          })
          .execute();
        await message('alice', null);
        await message('alice', alice[1]?.id ?? null);
        bobMessage = await message('bob', bob.id);
      });

      it('removes every account (tokens and data keys), session, wait, hand-off, message and event of the owner', async () => {
        const answer = await client.call('DELETE', '/v1/owners/alice');
        assert.equal(answer.status, 204);
        assert.equal(answer.body, undefined);
        const db = service.deps.db;

        for (const account of alice) {
          assert.equal(await tokenRows(service, account.id), 0);
          assert.equal(await dataKeyRows(service, account.id), 0);
          assert.equal((await client.call('GET', `/v1/accounts/${account.id}`)).status, 404);
          const row = await db.selectFrom('accounts').select('id').where('id', '=', account.id).executeTakeFirst();
          assert.equal(row, undefined);
        }
        for (const session of aliceSessions) {
          assert.equal(await dataKeyRows(service, session), 0);
        }
        const org = client.organization.id;
        const count = async (
          table: 'connect_sessions' | 'connect_approval_requests' | 'outbox_messages' | 'owners',
          column: 'owner_external_id' | 'external_id',
        ) =>
          (
            await db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('organization_id', '=', org)
              // Both columns are text; the cast only tells Kysely so across the union of tables.
              .where(column as 'organization_id', '=', 'alice')
              .executeTakeFirstOrThrow()
          ).n;
        assert.equal(Number(await count('connect_sessions', 'owner_external_id')), 0);
        assert.equal(Number(await count('connect_approval_requests', 'owner_external_id')), 0);
        assert.equal(Number(await count('outbox_messages', 'owner_external_id')), 0);
        assert.equal(Number(await count('owners', 'external_id')), 0);
        assert.equal((await client.call('GET', '/v1/owners/alice')).status, 404);

        const waits = await db.selectFrom('tenant_approvals').selectAll().where('organization_id', '=', org).execute();
        assert.deepEqual(
          waits.map((w) => w.tenant_id),
          [TENANT_SHARED],
          'the wait only alice was in is gone; the shared one stays',
        );
        assert.equal(JSON.parse(waits[0]?.waiting_owner_ids ?? '[]').length, 1);

        // Her earlier events are gone (they carried her addresses); owner.deleted says only who and which ids.
        const events = (await client.call('GET', '/v1/events?limit=200')).body.data as {
          type: string;
          ownerId: string | null;
          accountId: string | null;
          data: Record<string, unknown>;
        }[];
        assert.ok(!JSON.stringify(events).includes('alice@'));
        const deleted = events.filter((e) => e.type === 'owner.deleted');
        assert.equal(deleted.length, 1);
        assert.deepEqual(deleted[0]?.data, { ownerId: 'alice', accountIds: alice.map((a) => a.id).sort() });
        assert.ok(events.every((e) => e.type === 'owner.deleted' || e.ownerId !== 'alice'));
      });

      it("leaves every other owner's data untouched", async () => {
        assert.equal(await tokenRows(service, bob.id), 1);
        assert.equal(await dataKeyRows(service, bob.id), 1);
        assert.equal(await dataKeyRows(service, bobSession), 1);
        const account = await client.call('GET', `/v1/accounts/${bob.id}`);
        assert.equal(account.body.status, 'connected');
        const session = await service.deps.db
          .selectFrom('connect_sessions')
          .select('id')
          .where('id', '=', bobSession)
          .executeTakeFirst();
        assert.ok(session);
        const msg = await service.deps.db
          .selectFrom('outbox_messages')
          .select('id')
          .where('id', '=', bobMessage)
          .executeTakeFirst();
        assert.ok(msg);
        const events = await client.call('GET', `/v1/events?accountId=${bob.id}`);
        assert.equal(events.body.data.length, 1);
        assert.equal((await client.call('GET', '/v1/owners/chris')).status, 200);
      });

      it('is idempotent: deleting again answers 204 and records nothing more', async () => {
        const before = (await client.call('GET', '/v1/events?type=owner.deleted')).body.data.length;
        assert.equal((await client.call('DELETE', '/v1/owners/alice')).status, 204);
        assert.equal((await client.call('DELETE', '/v1/owners/never-existed')).status, 204);
        assert.equal((await client.call('GET', '/v1/events?type=owner.deleted')).body.data.length, before);
      });
    });
  });
}
