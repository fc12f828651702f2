import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EmulatorClock } from '../../emulator/clock.js';
import { DELEGATE_MEETING_MESSAGE_DELIVERY_OPTIONS } from '../../emulator/graph/mailbox-settings-values.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken, valuesOf } from '../support/graph-token.js';

const IMMUTABLE = { prefer: 'IdType="ImmutableId"' };

describe('emulator Graph: messages, OData, folders, mailbox settings', () => {
  let emulator: SeededEmulator;
  let megan: string;
  /** receivedDateTime of each seeded message, oldest first. */
  const received: string[] = [];

  before(async () => {
    // A frozen clock on a whole second: each message's receivedDateTime is then exactly the second recorded below,
    // so the date filters' boundaries cannot move when real time crosses a second during a send.
    const wholeSecond = Math.floor(Date.now() / 1000) * 1000;
    emulator = await startSeededEmulator({ clock: new EmulatorClock({ startAt: wholeSecond, frozen: true }) });
    megan = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    // Same-organisation mail never meets the junk filter: 12 messages into Megan's Inbox, a minute apart.
    const adele = mintGraphToken(emulator.ctx, emulator.seed.users.workWithMfa);
    const admin = mintGraphToken(emulator.ctx, emulator.seed.users.workAdmin);
    for (let i = 1; i <= 12; i++) {
      const fromAdele = i % 3 !== 0;
      const answer = await callGraph(emulator.url, fromAdele ? adele : admin, 'POST', '/me/sendMail', {
        message: {
          subject: fromAdele ? `Report ${String(i).padStart(2, '0')}` : `Lunch ${i}`,
          body: { contentType: 'HTML', content: `<p>Number <b>${i}</b></p>` },
          toRecipients: [{ emailAddress: { address: 'megan@contoso.com' } }],
        },
        saveToSentItems: false,
      });
      assert.equal(answer.status, 202);
      received.push(new Date(emulator.ctx.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'));
      emulator.ctx.clock.advance(60);
    }
  });
  after(() => emulator.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    callGraph(emulator.url, megan, 'GET', path, undefined, headers);
  const subjects = (answer: Awaited<ReturnType<typeof get>>) => valuesOf(answer).map((each) => each.subject);

  it('pages with a default of 10, newest first, and an @odata.nextLink that leads to the rest', async () => {
    const first = await get('/me/mailFolders/inbox/messages');
    assert.equal(first.status, 200);
    assert.equal(valuesOf(first).length, 10);
    assert.equal(valuesOf(first)[0]?.subject, 'Lunch 12');
    assert.equal(
      first.body?.['@odata.context'],
      `${emulator.url}/v1.0/$metadata#users('${emulator.seed.users.work.id}')/mailFolders('inbox')/messages`,
    );
    const link = String(first.body?.['@odata.nextLink']);
    assert.ok(link.startsWith(`${emulator.url}/v1.0/me/mailFolders/inbox/messages?`));
    assert.match(link, /\$skip=10/);
    const second = await callGraph(emulator.url, megan, 'GET', link);
    assert.deepEqual(subjects(second), ['Report 02', 'Report 01']);
    assert.equal(second.body?.['@odata.nextLink'], undefined);
  });

  it('honours $top, $skip and $count', async () => {
    const page = await get('/me/mailFolders/inbox/messages?$top=5&$skip=2&$count=true&$select=subject');
    assert.equal(page.body?.['@odata.count'], 12);
    assert.deepEqual(subjects(page), ['Report 10', 'Lunch 9', 'Report 08', 'Report 07', 'Lunch 6']);
    assert.match(String(page.body?.['@odata.nextLink']), /\$skip=7/);
    assert.match(String(page.body?.['@odata.nextLink']), /\$top=5/);
  });

  it('filters with eq, ne, contains, startswith, and/or/not, nested addresses, booleans and dates', async () => {
    const cases: Array<[string, number]> = [
      ["subject eq 'Report 04'", 1],
      ["subject eq 'report 04'", 1],
      ["subject ne 'Report 04'", 11],
      ["contains(subject,'port')", 8],
      ["startswith(subject,'Lunch')", 4],
      ["from/emailAddress/address eq 'admin@contoso.com'", 4],
      ['isRead eq false', 12],
      ['isDraft eq false', 12],
      [`receivedDateTime ge ${received[6]}`, 6],
      [`receivedDateTime gt ${received[6]} and receivedDateTime le ${received[9]}`, 3],
      [`receivedDateTime lt ${received[2]} or startswith(subject,'Lunch')`, 6],
      ["not startswith(subject,'Lunch')", 8],
      ["(startswith(subject,'Lunch') or subject eq 'Report 01') and isRead eq false", 5],
      ['hasAttachments eq true', 0],
    ];
    for (const [filter, expected] of cases) {
      const answer = await get(`/me/mailFolders/inbox/messages?$top=50&$filter=${encodeURIComponent(filter)}`);
      assert.equal(answer.status, 200, `${filter}: ${answer.text.slice(0, 200)}`);
      assert.equal(valuesOf(answer).length, expected, filter);
    }
    const one = valuesOf(await get('/me/mailFolders/inbox/messages?$top=1&$select=internetMessageId'))[0]!;
    const byId = await get(
      `/me/messages?$filter=${encodeURIComponent(`internetMessageId eq '${one.internetMessageId}'`)}&$select=subject`,
    );
    assert.deepEqual(subjects(byId), ['Lunch 12']);
  });

  it('orders with $orderby and applies the InefficientFilter rule', async () => {
    const oldest = await get('/me/mailFolders/inbox/messages?$orderby=receivedDateTime asc&$top=2&$select=subject');
    assert.deepEqual(subjects(oldest), ['Report 01', 'Report 02']);
    const bySubject = await get('/me/mailFolders/inbox/messages?$orderby=subject desc&$top=1&$select=subject');
    assert.deepEqual(subjects(bySubject), ['Report 11']);
    const ok = await get(
      `/me/mailFolders/inbox/messages?$filter=${encodeURIComponent(`receivedDateTime ge ${received[8]} and startswith(subject,'Report')`)}&$orderby=receivedDateTime desc&$select=subject`,
    );
    assert.equal(ok.status, 200);
    assert.deepEqual(subjects(ok), ['Report 11', 'Report 10']);
    for (const [filter, orderby] of [
      ["subject eq 'Report 01'", 'receivedDateTime desc'],
      [`isRead eq false and receivedDateTime ge ${received[0]}`, 'receivedDateTime desc'],
      [`receivedDateTime ge ${received[0]}`, 'receivedDateTime desc,subject'],
    ]) {
      const answer = await get(
        `/me/mailFolders/inbox/messages?$filter=${encodeURIComponent(filter!)}&$orderby=${encodeURIComponent(orderby!)}`,
      );
      assert.equal(answer.status, 400, `${filter} / ${orderby}`);
      assert.equal(errorOf(answer).code, 'InefficientFilter');
      assert.equal(errorOf(answer).message, 'The restriction or sort order is too complex for this operation.');
    }
  });

  it('refuses malformed filters and unknown properties with 400', async () => {
    for (const query of [
      "$filter=subject eq 'open",
      '$filter=subject eq',
      '$filter=shoeSize eq 3',
      '$select=shoeSize',
      '$orderby=shoeSize',
      '$top=lots',
    ]) {
      const answer = await get(`/me/mailFolders/inbox/messages?${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(errorOf(answer).code, 'BadRequest', query);
    }
  });

  it('projects $select (plus id and @odata.etag) and leaves headers out of the default projection', async () => {
    const selected = valuesOf(await get('/me/mailFolders/inbox/messages?$top=1&$select=subject,isRead'))[0]!;
    assert.deepEqual(Object.keys(selected).sort(), ['@odata.etag', 'id', 'isRead', 'subject']);
    const full = valuesOf(await get('/me/mailFolders/inbox/messages?$top=1'))[0]!;
    for (const key of [
      'receivedDateTime',
      'internetMessageId',
      'conversationId',
      'parentFolderId',
      'body',
      'flag',
      'bodyPreview',
    ]) {
      assert.ok(key in full, key);
    }
    assert.equal('internetMessageHeaders' in full, false);
    assert.match(String(full.receivedDateTime), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('returns HTML bodies by default and text with Prefer: outlook.body-content-type="text"', async () => {
    const html = valuesOf(await get('/me/mailFolders/inbox/messages?$top=1&$select=body'))[0]!;
    assert.deepEqual(html.body, { contentType: 'html', content: '<p>Number <b>12</b></p>' });
    const textAnswer = await get('/me/mailFolders/inbox/messages?$top=1&$select=body', {
      prefer: 'outlook.body-content-type="text"',
    });
    assert.deepEqual(valuesOf(textAnswer)[0]?.body, { contentType: 'text', content: 'Number 12' });
    assert.match(textAnswer.headers.get('preference-applied') ?? '', /outlook\.body-content-type="text"/);
  });

  it('gets, updates and deletes a message; unknown ids answer 404 ErrorItemNotFound', async () => {
    const [message] = valuesOf(
      await get("/me/mailFolders/inbox/messages?$filter=subject eq 'Report 05'&$select=subject"),
    );
    const id = String(message!.id);
    const one = await get(`/me/messages/${id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body?.subject, 'Report 05');
    assert.match(String(one.body?.['@odata.context']), /\/messages\/\$entity$/);

    const patched = await callGraph(emulator.url, megan, 'PATCH', `/me/messages/${id}`, {
      isRead: true,
      flag: { flagStatus: 'flagged' },
      importance: 'high',
      categories: ['Blue category'],
      inferenceClassification: 'other',
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body?.isRead, true);
    assert.deepEqual(patched.body?.flag, { flagStatus: 'flagged' });
    assert.equal(patched.body?.importance, 'high');
    assert.deepEqual(patched.body?.categories, ['Blue category']);
    assert.notEqual(patched.body?.['@odata.etag'], one.body?.['@odata.etag']);

    const subject = await callGraph(emulator.url, megan, 'PATCH', `/me/messages/${id}`, { subject: 'rewritten' });
    assert.equal(subject.status, 400);
    assert.equal(errorOf(subject).code, 'ErrorInvalidPropertyUpdateSentMessage');

    assert.equal((await callGraph(emulator.url, megan, 'DELETE', `/me/messages/${id}`)).status, 204);
    const gone = await get(`/me/messages/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(errorOf(gone).code, 'ErrorItemNotFound');
    assert.equal(errorOf(gone).message, 'The specified object was not found in the store.');
    const listed = await get("/me/messages?$filter=subject eq 'Report 05'");
    assert.equal(valuesOf(listed).length, 0);
    assert.equal((await get('/me/messages/AAMkDoesNotExist0000000000000000000000000000')).status, 404);
    assert.equal(
      (
        await callGraph(emulator.url, megan, 'PATCH', '/me/messages/AAMkDoesNotExist00000000000000000000', {
          isRead: true,
        })
      ).status,
      404,
    );
  });

  it('moves a message under a new id (the old one stops resolving); 201 with the moved message', async () => {
    const [message] = valuesOf(
      await get("/me/mailFolders/inbox/messages?$filter=subject eq 'Report 07'&$select=subject"),
    );
    const oldId = String(message!.id);
    const moved = await callGraph(emulator.url, megan, 'POST', `/me/messages/${oldId}/move`, {
      destinationId: 'archive',
    });
    assert.equal(moved.status, 201);
    assert.equal(moved.body?.subject, 'Report 07');
    assert.notEqual(moved.body?.id, oldId);
    const archive = await get('/me/mailFolders/archive');
    assert.equal(moved.body?.parentFolderId, archive.body?.id);
    assert.equal((await get(`/me/messages/${oldId}`)).status, 404);
    assert.equal((await get(`/me/messages/${String(moved.body?.id)}`)).status, 200);
    const missing = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(moved.body?.id)}/move`, {
      destinationId: 'nowhere',
    });
    assert.equal(missing.status, 400);
  });

  it('keeps ids stable across moves when every request sends Prefer: IdType="ImmutableId"', async () => {
    const list = await get("/me/mailFolders/inbox/messages?$filter=subject eq 'Report 08'&$select=subject", IMMUTABLE);
    assert.match(list.headers.get('preference-applied') ?? '', /IdType="ImmutableId"/);
    const immutableId = String(valuesOf(list)[0]!.id);
    const moved = await callGraph(
      emulator.url,
      megan,
      'POST',
      `/me/messages/${immutableId}/move`,
      { destinationId: 'junkemail' },
      IMMUTABLE,
    );
    assert.equal(moved.status, 201);
    assert.equal(moved.body?.id, immutableId);
    const again = await callGraph(
      emulator.url,
      megan,
      'POST',
      `/me/messages/${immutableId}/move`,
      { destinationId: 'inbox' },
      IMMUTABLE,
    );
    assert.equal(again.body?.id, immutableId);
    const fetched = await get(`/me/messages/${immutableId}`, IMMUTABLE);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body?.id, immutableId);
    // Without the header the same message shows its current (move-changing) id.
    const plain = await get(`/me/messages/${immutableId}`);
    assert.notEqual(plain.body?.id, immutableId);
  });

  it('copies a message into another folder (201)', async () => {
    const [message] = valuesOf(
      await get("/me/mailFolders/inbox/messages?$filter=subject eq 'Lunch 3'&$select=subject"),
    );
    const copy = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(message!.id)}/copy`, {
      destinationId: 'archive',
    });
    assert.equal(copy.status, 201);
    assert.notEqual(copy.body?.id, message!.id);
    assert.equal((await get(`/me/messages/${String(message!.id)}`)).status, 200);
  });

  it('lists, pages, gets, creates, renames and deletes mail folders', async () => {
    const all = await get('/me/mailFolders?$top=50');
    const names = valuesOf(all).map((folder) => folder.displayName);
    for (const name of ['Inbox', 'Drafts', 'Sent Items', 'Deleted Items', 'Junk Email', 'Archive'])
      assert.ok(names.includes(name), name);
    assert.equal(names.includes('Recoverable Items Deletions'), false);
    const paged = await get('/me/mailFolders?$top=3&$count=true');
    assert.equal(valuesOf(paged).length, 3);
    assert.ok(Number(paged.body?.['@odata.count']) > 3);
    assert.match(String(paged.body?.['@odata.nextLink']), /\$skip=3/);

    const inbox = await get('/me/mailFolders/Inbox');
    assert.equal(inbox.status, 200);
    assert.equal(inbox.body?.displayName, 'Inbox');
    assert.equal(typeof inbox.body?.totalItemCount, 'number');
    assert.equal(typeof inbox.body?.unreadItemCount, 'number');
    assert.equal((await get(`/me/mailFolders/${String(inbox.body?.id)}`)).body?.displayName, 'Inbox');

    const created = await callGraph(emulator.url, megan, 'POST', '/me/mailFolders', { displayName: 'Warm-up' });
    assert.equal(created.status, 201);
    assert.equal(created.body?.displayName, 'Warm-up');
    assert.equal(created.body?.totalItemCount, 0);
    const duplicate = await callGraph(emulator.url, megan, 'POST', '/me/mailFolders', { displayName: 'warm-up' });
    assert.equal(duplicate.status, 409);
    assert.equal(errorOf(duplicate).code, 'ErrorFolderExists');

    const folderId = String(created.body?.id);
    const child = await callGraph(emulator.url, megan, 'POST', `/me/mailFolders/${folderId}/childFolders`, {
      displayName: '2026',
    });
    assert.equal(child.status, 201);
    assert.equal(child.body?.parentFolderId, folderId);
    assert.deepEqual(
      valuesOf(await get(`/me/mailFolders/${folderId}/childFolders`)).map((f) => f.displayName),
      ['2026'],
    );
    assert.equal((await get(`/me/mailFolders/${folderId}`)).body?.childFolderCount, 1);

    const renamed = await callGraph(emulator.url, megan, 'PATCH', `/me/mailFolders/${String(child.body?.id)}`, {
      displayName: '2027',
    });
    assert.equal(renamed.body?.displayName, '2027');
    const protectedFolder = await callGraph(emulator.url, megan, 'DELETE', '/me/mailFolders/inbox');
    assert.equal(protectedFolder.status, 400);
    assert.equal(errorOf(protectedFolder).code, 'ErrorDeleteDistinguishedFolder');
    assert.equal(
      (await callGraph(emulator.url, megan, 'DELETE', `/me/mailFolders/${String(child.body?.id)}`)).status,
      204,
    );
    assert.equal((await get('/me/mailFolders/AAMkNoSuchFolder00000000000000000000')).status, 404);
    assert.equal((await get('/me/mailFolders/notAWellKnownName')).status, 400);
  });

  it('reads and updates mailboxSettings; PATCH answers only what changed', async () => {
    const settings = await get('/me/mailboxSettings');
    assert.equal(settings.status, 200);
    for (const key of [
      'timeZone',
      'language',
      'workingHours',
      'automaticRepliesSetting',
      'dateFormat',
      'timeFormat',
      'archiveFolder',
    ]) {
      assert.ok(key in settings.body!, key);
    }
    const patched = await callGraph(emulator.url, megan, 'PATCH', '/me/mailboxSettings', { timeZone: 'Europe/Berlin' });
    assert.equal(patched.status, 200);
    assert.deepEqual(Object.keys(patched.body!).sort(), ['@odata.context', 'timeZone']);
    assert.equal(patched.body?.timeZone, 'Europe/Berlin');
    const replies = await callGraph(emulator.url, megan, 'PATCH', '/me/mailboxSettings', {
      automaticRepliesSetting: { status: 'alwaysEnabled' },
    });
    assert.deepEqual(replies.body?.automaticRepliesSetting, {
      status: 'alwaysEnabled',
      externalAudience: 'all',
      internalReplyMessage: '',
      externalReplyMessage: '',
    });
    assert.equal((await get('/me/mailboxSettings')).body?.timeZone, 'Europe/Berlin');
    // Enumerations hold Microsoft's values only (the published schema): a value it lacks is a 400 that stores nothing.
    const current = (await get('/me/mailboxSettings')).body!;
    assert.ok(
      DELEGATE_MEETING_MESSAGE_DELIVERY_OPTIONS.includes(current.delegateMeetingMessageDeliveryOptions as never),
    );
    assert.equal(current.userPurpose, 'user');
    for (const bad of [
      { delegateMeetingMessageDeliveryOptions: 'sendToDelegateOutlookAndInformationToPrincipal' },
      { automaticRepliesSetting: { status: 'enabled' } },
      { automaticRepliesSetting: { externalAudience: 'everyone' } },
      { workingHours: { daysOfWeek: ['monday', 'funday'] } },
    ]) {
      const refused = await callGraph(emulator.url, megan, 'PATCH', '/me/mailboxSettings', bad);
      assert.equal(refused.status, 400, JSON.stringify(bad));
      assert.equal(errorOf(refused).code, 'RequestBodyRead');
    }
    assert.deepEqual((await get('/me/mailboxSettings')).body, current, 'a refused PATCH changes nothing');
    const delegate = await callGraph(emulator.url, megan, 'PATCH', '/me/mailboxSettings', {
      delegateMeetingMessageDeliveryOptions: 'sendToDelegateOnly',
      workingHours: { daysOfWeek: ['saturday', 'sunday'] },
    });
    assert.equal(delegate.status, 200);
    assert.equal(delegate.body?.delegateMeetingMessageDeliveryOptions, 'sendToDelegateOnly');
    assert.deepEqual((delegate.body!.workingHours as { daysOfWeek: string[] }).daysOfWeek, ['saturday', 'sunday']);
    const readOnly = await callGraph(emulator.url, megan, 'PATCH', '/me/mailboxSettings', { userPurpose: 'shared' });
    assert.equal(readOnly.status, 400);
    const unknown = await callGraph(emulator.url, megan, 'PATCH', '/me/mailboxSettings', { favouriteColour: 'blue' });
    assert.equal(unknown.status, 400);
    assert.equal(errorOf(unknown).code, 'RequestBodyRead');
  });
});
