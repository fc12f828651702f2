import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expireClientSecret, findAppOrThrow } from '../../emulator/control/actions.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  Browser,
  connectThroughMicrosoft,
  createTestOrganization,
  elementAttribute,
  hasElement,
  newSession,
  outcomeStatus,
  textOf,
} from './connect-test-kit.js';

describe('connect flow when the operator’s app is misconfigured', () => {
  let service: TestService;
  let organizationId: string;

  before(async () => {
    service = await startTestService();
    organizationId = await createTestOrganization(service);
    const ctx = service.emulator.ctx;
    const app = findAppOrThrow(ctx, service.emulator.seed.app.clientId);
    for (const secret of app.secrets) expireClientSecret(ctx, app, secret.id);
  });
  after(() => service.close());

  it('an expired client secret (AADSTS7000222) blames the service, not the user, and alerts the operator once', async () => {
    for (const owner of ['owner-1', 'owner-2']) {
      const session = await newSession(service, organizationId, { ownerExternalId: owner });
      const { page } = await connectThroughMicrosoft(service, new Browser(), session.id, {
        email: service.emulator.seed.users.work.email,
      });
      assert.equal(page.status, 200);
      assert.equal(outcomeStatus(page.html), 'app_misconfigured');
      assert.match(textOf(page.html, 'operator-told'), /This service is misconfigured; its operator has been told/);
      assert.doesNotMatch(page.html, /password|Try again/i);
      assert.ok(!hasElement(page.html, 'try-again'));
      assert.match(textOf(page.html, 'reference'), /AADSTS7000222/);
      const back = new URL(elementAttribute(page.html, 'back-to-app', 'href')!);
      assert.equal(back.searchParams.get('status'), 'app_misconfigured');
      assert.equal(back.searchParams.get('reason'), 'client_secret_expired');
    }
    const alerts = await service.deps.db.selectFrom('operator_alerts').selectAll().execute();
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.kind, 'app.misconfigured');
    assert.equal(alerts[0]!.reason, 'client_secret_expired');
    assert.match(alerts[0]!.detail, /Certificates & secrets/);
    const events = await listEvents(service.deps.db, organizationId, { limit: 50, type: 'app.misconfigured' });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data.reason, 'client_secret_expired');
    assert.equal(
      await service.deps.db
        .selectFrom('accounts')
        .selectAll()
        .execute()
        .then((rows) => rows.length),
      0,
    );
    const sessions = await service.deps.db.selectFrom('connect_sessions').select(['status', 'outcome']).execute();
    assert.deepEqual(
      sessions.map((s) => [s.status, s.outcome]),
      [
        ['failed', 'app_misconfigured:client_secret_expired'],
        ['failed', 'app_misconfigured:client_secret_expired'],
      ],
    );
  });
});
