import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listEvents } from '../../src/events/event-recorder.js';
import { loadAccountTokens } from '../../src/vault/account-tokens.js';
import { describeFindings, scanForSecrets } from '../security/secret-scanner.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  Browser,
  connectThroughMicrosoft,
  createTestOrganization,
  dumpDatabase,
  newSession,
  outcomeStatus,
  textOf,
} from './connect-test-kit.js';

describe('hosted connect flow (PostgreSQL)', () => {
  let service: TestService;
  let organizationId: string;

  before(async () => {
    service = await startTestService({ dialect: 'postgres' });
    organizationId = await createTestOrganization(service);
  });
  after(() => service.close());

  it('connects, then reconnects the same mailbox into the same account', async () => {
    const first = await newSession(service, organizationId, { ownerExternalId: 'owner-pg' });
    const connected = await connectThroughMicrosoft(service, new Browser(), first.id, { email: 'megan@contoso.com' });
    assert.equal(outcomeStatus(connected.page.html), 'connected');
    assert.equal(textOf(connected.page.html, 'connected-email'), 'megan@contoso.com');
    const [account] = await service.deps.db.selectFrom('accounts').selectAll().execute();
    assert.ok(account);
    const tokens = await loadAccountTokens(service.deps.db, service.deps.vault, account.id);
    const findings = scanForSecrets(await dumpDatabase(service), [
      { name: 'refresh token', value: tokens!.refreshToken.reveal() },
      { name: 'access token', value: tokens!.accessToken!.reveal() },
      { name: 'authorization code', value: connected.callback.params.get('code')! },
    ]);
    assert.equal(findings.length, 0, describeFindings(findings));

    const second = await newSession(service, organizationId, { ownerExternalId: 'owner-pg' });
    const reconnected = await connectThroughMicrosoft(service, new Browser(), second.id, {
      email: 'megan@contoso.com',
    });
    assert.equal(outcomeStatus(reconnected.page.html), 'reconnected');
    const accounts = await service.deps.db.selectFrom('accounts').selectAll().execute();
    assert.equal(accounts.length, 1);
    assert.equal(accounts[0]!.id, account.id);
    const events = await listEvents(service.deps.db, organizationId, { limit: 50 });
    assert.deepEqual(
      events.filter((e) => e.type.startsWith('account.')).map((e) => e.type),
      ['account.connected', 'account.reconnected'],
    );
  });
});
