import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { raiseAppMisconfiguredAlert } from '../../src/health/app-alerts.js';
import { HEALTH_REMEDIATION } from '../../src/health/remediation.js';
import { evidenceFromTokenErrorResponse } from '../../src/microsoft/error-evidence.js';
import { Secret } from '../../src/platform/secret.js';
import { aadTokenError } from '../microsoft/fixtures.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  Browser,
  connectThroughMicrosoft,
  createTestOrganization,
  elementAttribute,
  hasElement,
  newSession,
  outcomeStatus,
  startAtMicrosoft,
  textOf,
} from './connect-test-kit.js';

/**
 * Where an error comes from (issue 10 item 1, issue 15 cases 4–6 and 9), over real HTTP: the emulator redirects the
 * errors Microsoft was recorded redirecting (a `recorded` fault on `/authorize` or `/adminconsent`), a browser
 * forges a callback, and the emulator's token endpoint refuses the app's real credentials.
 */
describe('connect flow: front channel and back channel', () => {
  let service: TestService;
  let organizationId: string;

  before(async () => {
    service = await startTestService();
    organizationId = await createTestOrganization(service);
  });
  after(() => service.close());
  beforeEach(async () => {
    await control('DELETE', '/faults');
  });

  async function control(method: string, path: string, body?: unknown) {
    const response = await fetch(`${service.emulator.url}/_emulator${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }

  const openAlerts = () =>
    service.deps.db.selectFrom('operator_alerts').selectAll().where('resolved_at', 'is', null).execute();
  const eventsOf = (type: string) => listEvents(service.deps.db, organizationId, { limit: 50, type });

  async function connectWithRecordedRefusal(recorded: string, owner: string) {
    const email = service.emulator.seed.users.work.email;
    await control('POST', '/faults', { kind: 'recorded', recorded, target: 'authorize', email, count: 1 });
    const session = await newSession(service, organizationId, { ownerExternalId: owner });
    const { page, callback } = await connectThroughMicrosoft(service, new Browser(), session.id, { email });
    return { page, callback, back: new URL(elementAttribute(page.html, 'back-to-app', 'href')!) };
  }

  it('AADSTS50005 (a device platform Conditional Access refuses) is the policy page, not "you declined"', async () => {
    const { page, callback, back } = await connectWithRecordedRefusal('ca_device_platform', 'owner-ca');
    assert.equal(new URLSearchParams(callback.params).get('error'), 'access_denied', 'as Microsoft redirects it');
    assert.equal(outcomeStatus(page.html), 'sign_in_blocked');
    assert.equal(back.searchParams.get('reason'), 'conditional_access');
    assert.match(textOf(page.html, 'outcome-message'), /security policy/);
    assert.match(textOf(page.html, 'reference'), /AADSTS50005/);
    assert.deepEqual(await openAlerts(), []);
  });

  it('AADSTS650051 as access_denied and as invalid_client: the user’s unmanaged tenant, never an operator alert', async () => {
    for (const recorded of ['unmanaged_tenant', 'unmanaged_tenant_invalid_client']) {
      const { page, back } = await connectWithRecordedRefusal(recorded, `owner-${recorded}`);
      assert.equal(outcomeStatus(page.html), 'sign_in_blocked', recorded);
      assert.equal(back.searchParams.get('reason'), 'unmanaged_tenant', recorded);
      assert.equal(
        textOf(page.html, 'outcome-message'),
        HEALTH_REMEDIATION['reconnect_required:unmanaged_tenant'].user,
      );
      assert.ok(!hasElement(page.html, 'operator-told'), recorded);
    }
    assert.deepEqual(await openAlerts(), []);
    assert.deepEqual(await eventsOf('app.misconfigured'), []);
  });

  it('a forged invalid_client on the callback opens no alert; the real secret failure then does, and a success with the same credentials resolves it', async () => {
    // 1. Anyone holding a connect link can put a token-endpoint-only error on their own callback.
    const browser = new Browser();
    const forgedSession = await newSession(service, organizationId, { ownerExternalId: 'owner-forger' });
    const authorizeUrl = new URL(await startAtMicrosoft(service, browser, forgedSession.id));
    const forged = new URLSearchParams({
      error: 'invalid_client',
      error_description: 'AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x\r\nCorrelation ID: y',
      state: authorizeUrl.searchParams.get('state')!,
    });
    const forgedPage = await browser.get(`${service.url}/connect/callback?${forged}`);
    assert.equal(outcomeStatus(forgedPage.html), 'unknown');
    assert.ok(!hasElement(forgedPage.html, 'operator-told'));
    assert.deepEqual(await openAlerts(), []);
    assert.deepEqual(await eventsOf('app.misconfigured'), []);

    // An authorize error Microsoft may redirect (unauthorized_client) shows the app page, honestly: nobody was alerted.
    const other = await newSession(service, organizationId, { ownerExternalId: 'owner-forger-2' });
    const otherUrl = new URL(await startAtMicrosoft(service, browser, other.id));
    const unauthorized = new URLSearchParams({
      error: 'unauthorized_client',
      error_description: 'AADSTS700016: Application not found in the directory.',
      state: otherUrl.searchParams.get('state')!,
    });
    const unauthorizedPage = await browser.get(`${service.url}/connect/callback?${unauthorized}`);
    assert.equal(outcomeStatus(unauthorizedPage.html), 'app_misconfigured');
    assert.ok(!hasElement(unauthorizedPage.html, 'operator-told'));
    assert.doesNotMatch(unauthorizedPage.html, /operator has been told/);
    assert.match(textOf(unauthorizedPage.html, 'outcome-message'), /tell this service's support/);
    assert.deepEqual(await openAlerts(), []);

    // 2. An alert left open about other credentials (an earlier secret) hides nothing about these.
    const earlier = { ...service.deps.microsoft, clientSecret: new Secret('an earlier secret') };
    const earlierEvidence = evidenceFromTokenErrorResponse(
      401,
      aadTokenError('invalid_client', 7000222, 'The provided client secret keys are expired.'),
    );
    assert.equal(
      await raiseAppMisconfiguredAlert(
        service.deps.db,
        { ...service.deps, microsoft: earlier },
        {
          reason: 'client_secret_expired',
          remediation: HEALTH_REMEDIATION['app_misconfigured:client_secret_expired'],
          evidence: earlierEvidence,
        },
      ),
      true,
    );

    // 3. The service's own secret stops working at Microsoft: the code exchange (back channel) says so.
    const clientId = service.emulator.seed.app.clientId;
    const app = (await control('GET', `/apps/${clientId}`)) as { secrets: { id: string }[] };
    for (const secret of app.secrets) await control('POST', `/apps/${clientId}/secrets/${secret.id}/expire`);
    const email = service.emulator.seed.users.work.email;
    const failing = await newSession(service, organizationId, { ownerExternalId: 'owner-1' });
    const failed = await connectThroughMicrosoft(service, new Browser(), failing.id, { email });
    assert.equal(outcomeStatus(failed.page.html), 'app_misconfigured');
    assert.ok(hasElement(failed.page.html, 'operator-told'));
    const open = await openAlerts();
    assert.deepEqual(open.map((alert) => alert.reason).sort(), ['client_secret_expired', 'client_secret_expired']);
    assert.equal(new Set(open.map((alert) => alert.credentials)).size, 2, 'one alert per set of credentials');
    assert.ok(
      open.every((alert) => alert.credentials !== null && !alert.credentials.includes(earlier.clientSecret.reveal())),
    );
    assert.equal((await eventsOf('app.misconfigured')).length, 2);

    // 4. The operator restores the secret: the next successful token request with it resolves its alert only.
    await control('POST', `/apps/${clientId}/secrets`, {
      value: service.deps.microsoft.clientSecret.reveal(),
      replaceExisting: true,
    });
    const working = await newSession(service, organizationId, { ownerExternalId: 'owner-1' });
    const connected = await connectThroughMicrosoft(service, new Browser(), working.id, { email });
    assert.equal(outcomeStatus(connected.page.html), 'connected');
    const stillOpen = await openAlerts();
    assert.equal(stillOpen.length, 1, 'the alert about the earlier secret stays open');
    assert.equal(
      stillOpen[0]!.credentials,
      open.find((alert) => alert.created_at === Math.min(...open.map((a) => a.created_at)))!.credentials,
    );
    const recovered = await eventsOf('app.recovered');
    assert.equal(recovered.length, 1);
    assert.deepEqual(recovered[0]!.data.reasons, ['client_secret_expired']);

    // 5. A success again changes nothing more: no second event.
    const again = await newSession(service, organizationId, { ownerExternalId: 'owner-1' });
    await connectThroughMicrosoft(service, new Browser(), again.id, { email });
    assert.equal((await eventsOf('app.recovered')).length, 1);
  });

  it('AADSTS50020 at /adminconsent: the page says the account is not of the organisation, not "accept again"', async () => {
    const lee = service.emulator.seed.users.approvalRequired;
    const session = await newSession(service, organizationId, { ownerExternalId: 'owner-lee', loginHint: lee.email });
    const { page } = await connectThroughMicrosoft(service, new Browser(), session.id, {
      email: lee.email,
      approval: 'request',
      justification: 'Interview invitations.',
    });
    assert.equal(outcomeStatus(page.html), 'approval_required');
    const link = elementAttribute(page.html, 'admin-consent-link', 'href')!;
    const admin = service.emulator.seed.users.approvalAdmin;
    await control('POST', '/faults', {
      kind: 'recorded',
      recorded: 'admin_consent_other_tenant',
      target: 'adminconsent',
      email: admin.email,
      count: 1,
    });
    const answer = await new SignInDriver().signIn(link, { email: admin.email, password: DEMO_PASSWORD });
    assert.equal(new URLSearchParams(answer.params).get('admin_consent'), 'True');
    const result = await new Browser().get(`${answer.url}?${answer.params}`);
    assert.equal(elementAttribute(result.html, 'admin-consent-error', 'data-code'), '50020');
    const message = textOf(result.html, 'outcome-message');
    assert.match(message, /doesn't belong to the organisation that must approve/);
    assert.doesNotMatch(message, /accept for the organisation/);
  });
});
