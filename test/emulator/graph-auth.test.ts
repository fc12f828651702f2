import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken } from '../support/graph-token.js';

describe('emulator Graph: authentication, scopes, profile', () => {
  let emulator: SeededEmulator;
  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  it('answers GET /me with the signed-in work user in Graph shape', async () => {
    const megan = emulator.seed.users.work;
    const answer = await callGraph(emulator.url, mintGraphToken(emulator.ctx, megan, ['User.Read']), 'GET', '/me');
    assert.equal(answer.status, 200);
    assert.equal(answer.body?.['@odata.context'], `${emulator.url}/v1.0/$metadata#users/$entity`);
    assert.equal(answer.body?.id, megan.id);
    assert.equal(answer.body?.displayName, 'Megan Bowen');
    assert.equal(answer.body?.givenName, 'Megan');
    assert.equal(answer.body?.surname, 'Bowen');
    assert.equal(answer.body?.mail, 'megan@contoso.com');
    assert.equal(answer.body?.userPrincipalName, 'megan@contoso.com');
    assert.deepEqual(answer.body?.businessPhones, []);
    for (const key of ['jobTitle', 'mobilePhone', 'officeLocation', 'preferredLanguage'])
      assert.ok(key in answer.body!);
    assert.ok(answer.headers.get('request-id'));
    assert.ok(answer.headers.get('date'));
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  });

  it('answers personal accounts as Microsoft does: a CID id that is not the oid, mail null, the address as UPN', async () => {
    const alex = emulator.seed.users.personal;
    // docs/entra.md §1.6: oid 00000000-0000-0000-xxxx-xxxxxxxxxxxx, Graph id a 16-hex-digit CID.
    assert.match(alex.id, /^00000000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const token = mintGraphToken(emulator.ctx, alex);
    const answer = await callGraph(emulator.url, token, 'GET', '/me');
    assert.equal(answer.status, 200);
    assert.match(String(answer.body?.id), /^[0-9a-f]{16}$/);
    assert.notEqual(answer.body?.id, alex.id);
    assert.equal(answer.body?.mail, null);
    assert.equal(answer.body?.userPrincipalName, 'alex@outlook.com');
    assert.equal(answer.body?.displayName, 'Alex Wilber');
    // `/users/{id}` takes Graph's id (or the UPN), not the oid.
    const byGraphId = await callGraph(emulator.url, token, 'GET', `/users/${String(answer.body?.id)}`);
    assert.equal(byGraphId.status, 200);
    assert.equal(byGraphId.body?.id, answer.body?.id);
    assert.equal((await callGraph(emulator.url, token, 'GET', `/users/${alex.id}`)).status, 403);
  });

  it('honours $select on /me and refuses unknown properties', async () => {
    const token = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    const answer = await callGraph(emulator.url, token, 'GET', '/me?$select=displayName,mail');
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.body!).sort(), ['@odata.context', 'displayName', 'mail']);
    assert.match(String(answer.body?.['@odata.context']), /users\(displayName,mail\)\/\$entity$/);
    const bad = await callGraph(emulator.url, token, 'GET', '/me?$select=shoeSize');
    assert.equal(bad.status, 400);
    assert.match(String(errorOf(bad).message), /shoeSize/);
  });

  it('answers a request without a token with 401 InvalidAuthenticationToken and a WWW-Authenticate challenge', async () => {
    const answer = await callGraph(emulator.url, null, 'GET', '/me/messages', undefined, {
      'client-request-id': 'my-correlation-id',
    });
    assert.equal(answer.status, 401);
    const error = errorOf(answer);
    assert.equal(error.code, 'InvalidAuthenticationToken');
    assert.equal(error.message, 'Access token is empty.');
    assert.equal(error.innerError['client-request-id'], 'my-correlation-id');
    assert.equal(answer.headers.get('client-request-id'), 'my-correlation-id');
    assert.ok(error.innerError['request-id']);
    assert.ok(error.innerError.date);
    assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer realm="", authorization_uri="/);
  });

  it('answers an unknown token with 401 and the JWT-format message', async () => {
    const answer = await callGraph(emulator.url, 'not-a-token', 'GET', '/me');
    assert.equal(answer.status, 401);
    assert.match(errorOf(answer).message, /^IDX14100: JWT is not well formed/);
  });

  it('answers a token past its expiry on the emulator clock with 401 "expired"', async () => {
    const token = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    assert.equal((await callGraph(emulator.url, token, 'GET', '/me')).status, 200);
    emulator.ctx.clock.advance(2 * 3600);
    const answer = await callGraph(emulator.url, token, 'GET', '/me');
    assert.equal(answer.status, 401);
    assert.equal(errorOf(answer).message, 'Access token has expired or is not yet valid.');
  });

  it('answers a missing scope with 403 ErrorAccessDenied, per endpoint', async () => {
    const megan = emulator.seed.users.work;
    const profileOnly = mintGraphToken(emulator.ctx, megan, ['User.Read']);
    const readWrite = mintGraphToken(emulator.ctx, megan, ['Mail.ReadWrite']);
    const sendOnly = mintGraphToken(emulator.ctx, megan, ['Mail.Send']);
    const settingsRead = mintGraphToken(emulator.ctx, megan, ['MailboxSettings.Read']);
    const message = { message: { subject: 's', toRecipients: [{ emailAddress: { address: 'x@example.org' } }] } };
    const cases: Array<[string, string, string, unknown, number]> = [
      [profileOnly, 'GET', '/me/messages', undefined, 403],
      [profileOnly, 'POST', '/me/sendMail', message, 403],
      [readWrite, 'POST', '/me/sendMail', message, 403],
      [readWrite, 'POST', '/me/messages', { subject: 'draft' }, 201],
      [readWrite, 'GET', '/me/mailFolders', undefined, 200],
      [sendOnly, 'GET', '/me/messages', undefined, 403],
      [sendOnly, 'POST', '/me/messages', { subject: 'draft' }, 403],
      [sendOnly, 'POST', '/me/sendMail', message, 202],
      [sendOnly, 'GET', '/me', undefined, 403],
      [settingsRead, 'GET', '/me/mailboxSettings', undefined, 200],
      [settingsRead, 'PATCH', '/me/mailboxSettings', { timeZone: 'Europe/Paris' }, 403],
      [settingsRead, 'GET', '/me/mailFolders/inbox/messageRules', undefined, 200],
      [readWrite, 'GET', '/me/mailboxSettings', undefined, 403],
    ];
    for (const [token, method, path, body, status] of cases) {
      const answer = await callGraph(emulator.url, token, method, path, body);
      assert.equal(answer.status, status, `${method} ${path}`);
      if (status === 403) {
        assert.equal(errorOf(answer).code, 'ErrorAccessDenied');
        assert.equal(errorOf(answer).message, 'Access is denied. Check credentials and try again.');
      }
    }
  });

  it('accepts scopes written as full resource URIs', async () => {
    const token = mintGraphToken(emulator.ctx, emulator.seed.users.work, ['https://graph.microsoft.com/Mail.Read']);
    assert.equal((await callGraph(emulator.url, token, 'GET', '/me/messages')).status, 200);
  });

  it('answers 404 MailboxNotEnabledForRESTAPI for a disabled mailbox, while /me still works', async () => {
    const admin = emulator.seed.users.workAdmin;
    const token = mintGraphToken(emulator.ctx, admin);
    admin.mailboxEnabled = false;
    try {
      const answer = await callGraph(emulator.url, token, 'GET', '/me/mailFolders/inbox/messages');
      assert.equal(answer.status, 404);
      assert.equal(errorOf(answer).code, 'MailboxNotEnabledForRESTAPI');
      assert.equal(errorOf(answer).message, 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
      assert.equal((await callGraph(emulator.url, token, 'GET', '/me')).status, 200);
    } finally {
      admin.mailboxEnabled = true;
    }
  });

  it('answers 401 for a disabled account, so the client refreshes and meets AADSTS50057', async () => {
    const lee = emulator.seed.users.approvalRequired;
    const token = mintGraphToken(emulator.ctx, lee);
    lee.disabled = true;
    try {
      const answer = await callGraph(emulator.url, token, 'GET', '/me');
      assert.equal(answer.status, 401);
      assert.equal(errorOf(answer).code, 'InvalidAuthenticationToken');
    } finally {
      lee.disabled = false;
    }
  });

  it('serves /users/{id or address}/… for the signed-in user and refuses other mailboxes', async () => {
    const megan = emulator.seed.users.work;
    const token = mintGraphToken(emulator.ctx, megan);
    assert.equal((await callGraph(emulator.url, token, 'GET', `/users/${megan.id}/mailFolders/inbox`)).status, 200);
    assert.equal((await callGraph(emulator.url, token, 'GET', '/users/megan@contoso.com/messages')).status, 200);
    const other = await callGraph(emulator.url, token, 'GET', '/users/adele@contoso.com/messages');
    assert.equal(other.status, 403);
    assert.equal(errorOf(other).code, 'ErrorAccessDenied');
  });

  it('answers unknown Graph paths with 400 BadRequest in Graph shape', async () => {
    const token = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    const answer = await callGraph(emulator.url, token, 'GET', '/me/calendarGroupsOfDoom');
    assert.equal(answer.status, 400);
    assert.equal(errorOf(answer).code, 'BadRequest');
  });

  it('records who each Graph request was for in the request log', async () => {
    const megan = emulator.seed.users.work;
    await callGraph(emulator.url, mintGraphToken(emulator.ctx, megan), 'GET', '/me/mailFolders?$top=1');
    const entry = emulator.ctx.requestLog.findLast((each) => each.path.startsWith('/v1.0/me/mailFolders'));
    assert.equal(entry?.userId, megan.id);
    assert.equal(entry?.clientId, emulator.seed.app.clientId);
    assert.equal(entry?.status, 200);
  });
});
