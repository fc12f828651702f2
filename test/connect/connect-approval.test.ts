import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/seed.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  Browser,
  connectThroughMicrosoft,
  createTestOrganization,
  deliverCallback,
  elementAttribute,
  hasElement,
  newSession,
  outcomeStatus,
  startAtMicrosoft,
  textOf,
} from './connect-test-kit.js';

const FABRIKAM = DEMO_IDS.fabrikamTenantId;

/**
 * lee@fabrikam.com's tenant forbids user consent (admin consent workflow on): the approval-required page, the IT
 * admin (it@fabrikam.com) consenting through the page's link, the admin-consent callback, and lee finishing in one
 * click. Once with the tenant known up front (login hint → Microsoft's discovery for the domain), once without.
 */
describe('connect flow: admin approval required', () => {
  let service: TestService;
  let organizationId: string;

  before(async () => {
    service = await startTestService();
    organizationId = await createTestOrganization(service);
  });
  after(() => service.close());

  async function ownerIdOf(externalId: string): Promise<string> {
    const row = await service.deps.db
      .selectFrom('owners')
      .select('id')
      .where('organization_id', '=', organizationId)
      .where('external_id', '=', externalId)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  const tenantApproval = () =>
    service.deps.db
      .selectFrom('tenant_approvals')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('tenant_id', '=', FABRIKAM)
      .executeTakeFirst();

  it('approval page with client id and admin link → admin consents → lee finishes in one click', async () => {
    const lee = service.emulator.seed.users.approvalRequired;
    const session = await newSession(service, organizationId, {
      ownerExternalId: 'owner-lee',
      loginHint: lee.email,
    });
    const browser = new Browser();
    const leeAtMicrosoft = new SignInDriver();
    const { page } = await connectThroughMicrosoft(
      service,
      browser,
      session.id,
      { email: lee.email, approval: 'request', justification: 'I send interview invitations from my mailbox.' },
      leeAtMicrosoft,
    );

    // The page: what happened, the application id to verify, the link and a message for the admin.
    assert.equal(outcomeStatus(page.html), 'approval_required');
    assert.equal(textOf(page.html, 'client-id'), service.emulator.seed.app.clientId);
    assert.equal(elementAttribute(page.html, 'approval-status', 'data-approval'), 'pending');
    // Only what is known: the mailbox and purpose waiting; whether lee sent Microsoft's request form is not known.
    assert.equal(textOf(page.html, 'approval-mailbox'), lee.email);
    assert.match(textOf(page.html, 'approval-subject'), /for sending mail\.$/);
    assert.doesNotMatch(textOf(page.html, 'outcome-message'), /You asked/);
    assert.ok(hasElement(page.html, 'admin-hand-off'));
    const link = new URL(elementAttribute(page.html, 'admin-consent-link', 'href')!);
    assert.equal(elementAttribute(page.html, 'admin-consent-url', 'value'), link.href);
    assert.equal(link.origin, service.emulator.url, 'routed to where Microsoft is served');
    assert.equal(link.pathname, '/organizations/v2.0/adminconsent');
    assert.equal(link.searchParams.get('client_id'), service.emulator.seed.app.clientId);
    assert.equal(
      link.searchParams.get('scope'),
      'https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Send',
    );
    assert.equal(link.searchParams.get('redirect_uri'), `${service.url}/connect/admin-consent/callback`);
    assert.ok((link.searchParams.get('state') ?? '').length >= 43);
    const justification = textOf(page.html, 'justification');
    assert.match(justification, new RegExp(service.emulator.seed.app.clientId));
    assert.match(justification, /Send mail as you/);
    assert.ok(justification.includes(link.href));
    assert.ok(!hasElement(page.html, 'finish-connecting'));

    // The state: the owner waits for Fabrikam's admin (the tenant came from the login hint's domain).
    const stored = await service.deps.db
      .selectFrom('connect_sessions')
      .selectAll()
      .where('id', '=', session.id)
      .executeTakeFirstOrThrow();
    assert.equal(stored.status, 'awaiting_approval');
    assert.equal(stored.outcome, 'approval_required:approval_requested');
    assert.equal(stored.tenant_id, FABRIKAM);
    assert.ok(Number(stored.expires_at) > Date.now() + 6 * 86_400_000, 'an approval wait outlives 30 minutes');
    const waiting = await tenantApproval();
    assert.equal(waiting?.status, 'pending');
    assert.deepEqual(JSON.parse(waiting!.waiting_owner_ids), [await ownerIdOf('owner-lee')]);
    const requested = await listEvents(service.deps.db, organizationId, {
      limit: 10,
      type: 'tenant.admin_approval_requested',
    });
    assert.equal(requested.length, 1);
    assert.equal(requested[0]!.data.tenantId, FABRIKAM);

    // Coming back to the link shows the same link (a link already sent to the admin keeps working).
    const again = await browser.get(session.url);
    assert.equal(elementAttribute(again.html, 'admin-consent-link', 'href'), link.href);

    // The admin opens the link, signs in, checks and accepts for the organisation.
    const adminAnswer = await new SignInDriver().signIn(link.href, {
      email: service.emulator.seed.users.approvalAdmin.email,
      password: DEMO_PASSWORD,
    });
    assert.equal(adminAnswer.url, `${service.url}/connect/admin-consent/callback`);
    const approved = await new Browser().get(`${adminAnswer.url}?${adminAnswer.params}`);
    assert.equal(approved.status, 200);
    assert.ok(hasElement(approved.html, 'admin-approved'));
    assert.equal(textOf(approved.html, 'approved-tenant'), FABRIKAM);
    assert.match(textOf(approved.html, 'outcome-message'), /Approved\. Users of your organisation/);
    assert.equal((await tenantApproval())?.status, 'granted');
    const granted = await listEvents(service.deps.db, organizationId, {
      limit: 10,
      type: 'tenant.admin_consent_granted',
    });
    assert.equal(granted.length, 1);
    assert.equal(granted[0]!.data.tenantId, FABRIKAM);
    // The same answer again records nothing more.
    const repeated = await new Browser().get(`${adminAnswer.url}?${adminAnswer.params}`);
    assert.ok(hasElement(repeated.html, 'admin-approved'));
    assert.equal(
      (await listEvents(service.deps.db, organizationId, { limit: 10, type: 'tenant.admin_consent_granted' })).length,
      1,
    );

    // Lee's page now says the admin approved, with one button.
    const waitingPage = await browser.get(session.url);
    assert.equal(elementAttribute(waitingPage.html, 'approval-status', 'data-approval'), 'granted');
    assert.equal(textOf(waitingPage.html, 'outcome-title'), 'Your IT admin approved');
    assert.match(textOf(waitingPage.html, 'admin-approved'), /Finish connecting\./);
    assert.equal(textOf(waitingPage.html, 'approval-mailbox'), lee.email);
    // Nothing stale once approved: no waiting text, no hand-off card for the admin.
    assert.ok(!hasElement(waitingPage.html, 'check-again'));
    assert.ok(!hasElement(waitingPage.html, 'admin-hand-off'));
    assert.ok(!hasElement(waitingPage.html, 'outcome-message'));
    assert.ok(hasElement(waitingPage.html, 'finish-connecting'));
    assert.equal(elementAttribute(waitingPage.html, 'finish-form', 'action'), `/connect/${session.id}/start`);
    // One click: Microsoft remembers lee and the organisation's consent covers the permissions, so no page asks
    // anything before the answer comes back.
    const authorizeUrl = await startAtMicrosoft(service, browser, session.id);
    assert.equal(new URL(authorizeUrl).searchParams.get('login_hint'), lee.email, 'the finish step names the mailbox');
    const opened = await leeAtMicrosoft.open(authorizeUrl);
    assert.equal(opened.kind, 'callback', 'no consent or approval page after the admin consented');
    if (opened.kind !== 'callback') return;
    const finished = await deliverCallback(browser, opened);
    assert.equal(outcomeStatus(finished.html), 'connected');
    assert.equal(textOf(finished.html, 'connected-email'), lee.email);

    const account = await service.deps.db
      .selectFrom('accounts')
      .selectAll()
      .where('email', '=', lee.email)
      .executeTakeFirstOrThrow();
    assert.equal(account.tenant_id, FABRIKAM);
    const after = await tenantApproval();
    assert.equal(after?.status, 'granted');
    assert.deepEqual(JSON.parse(after!.waiting_owner_ids), [], 'lee no longer waits');
  });

  it('a non-admin opening the link gets an explanation, and the link keeps working', async () => {
    // Fabrikam's admin approved the send profile above; warm-up asks for more, so lee is blocked again.
    const warm = await newSession(service, organizationId, {
      ownerExternalId: 'owner-lee-2',
      permissionProfile: 'warmup',
    });
    const browser = new Browser();
    const { page } = await connectThroughMicrosoft(service, browser, warm.id, {
      email: 'lee@fabrikam.com',
      approval: 'back',
    });
    assert.equal(outcomeStatus(page.html), 'approval_required');
    const link = new URL(elementAttribute(page.html, 'admin-consent-link', 'href')!);
    assert.match(link.searchParams.get('scope') ?? '', /Mail\.ReadWrite/);

    const notAdmin = await new SignInDriver().signIn(link.href, {
      email: 'lee@fabrikam.com',
      password: DEMO_PASSWORD,
      approval: 'back',
    });
    const refused = await new Browser().get(`${notAdmin.url}?${notAdmin.params}`);
    assert.ok(hasElement(refused.html, 'admin-consent-error'));
    assert.match(textOf(refused.html, 'outcome-message'), /sign in with an admin account/);
    assert.equal(elementAttribute((await browser.get(warm.url)).html, 'approval-status', 'data-approval'), 'pending');

    const admin = await new SignInDriver().signIn(link.href, { email: 'it@fabrikam.com', password: DEMO_PASSWORD });
    const approved = await new Browser().get(`${admin.url}?${admin.params}`);
    assert.ok(hasElement(approved.html, 'admin-approved'));
    assert.ok(hasElement((await browser.get(warm.url)).html, 'finish-connecting'));
  });

  it('without a known tenant the wait is keyed by the session until the admin’s callback names the tenant', async () => {
    const other = await startTestService();
    try {
      const org = await createTestOrganization(other);
      const session = await newSession(other, org, { ownerExternalId: 'owner-lee' });
      const browser = new Browser();
      const { page } = await connectThroughMicrosoft(other, browser, session.id, {
        email: 'lee@fabrikam.com',
        approval: 'back',
      });
      assert.equal(outcomeStatus(page.html), 'approval_required');
      assert.equal(await other.deps.db.selectFrom('tenant_approvals').selectAll().executeTakeFirst(), undefined);
      const request = await other.deps.db
        .selectFrom('connect_approval_requests')
        .selectAll()
        .where('session_id', '=', session.id)
        .executeTakeFirstOrThrow();
      assert.equal(request.tenant_id, null);
      assert.equal(request.status, 'pending');

      const link = elementAttribute(page.html, 'admin-consent-link', 'href')!;
      const admin = await new SignInDriver().signIn(link, { email: 'it@fabrikam.com', password: DEMO_PASSWORD });
      await new Browser().get(`${admin.url}?${admin.params}`);
      const approval = await other.deps.db.selectFrom('tenant_approvals').selectAll().executeTakeFirstOrThrow();
      assert.equal(approval.tenant_id, FABRIKAM);
      assert.equal(approval.status, 'granted');
      const stored = await other.deps.db
        .selectFrom('connect_sessions')
        .select('tenant_id')
        .where('id', '=', session.id)
        .executeTakeFirstOrThrow();
      assert.equal(stored.tenant_id, FABRIKAM);

      const finish = await browser.post(`${other.url}/connect/${session.id}/start`);
      const callback = await new SignInDriver().signIn(finish.location!, {
        email: 'lee@fabrikam.com',
        password: DEMO_PASSWORD,
      });
      assert.equal(outcomeStatus((await deliverCallback(browser, callback)).html), 'connected');
    } finally {
      await other.close();
    }
  });

  it('an unknown admin-consent state is a page, not an error', async () => {
    const page = await new Browser().get(
      `${service.url}/connect/admin-consent/callback?admin_consent=True&tenant=${FABRIKAM}&state=forged`,
    );
    assert.equal(page.status, 400);
    assert.equal(elementAttribute(page.html, 'admin-consent-error', 'data-code'), 'unknown_link');
  });
});
