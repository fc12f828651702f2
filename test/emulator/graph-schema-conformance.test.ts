import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, type GraphAnswer, mintGraphToken } from '../support/graph-token.js';

/**
 * Schema conformance (issue 9 item 5): every Graph JSON body the emulator returns for the endpoints mailbridge uses
 * is checked against Microsoft's published schema, `@microsoft/microsoft-graph-types` (generated from Graph's v1.0
 * metadata). The test records real answers over HTTP, writes each as an object literal typed with the matching
 * interface into a temporary .ts file, and type-checks it with the project's `tsc`: excess-property checks catch
 * properties Microsoft does not have, string-literal unions catch wrong enum values, and the JSON types must fit.
 * OData annotations (`@odata.*`) are not part of the entity types: they are checked against the annotations Graph
 * writes, then removed. Dates are checked at runtime against the forms Microsoft writes (see DATE_FORMS).
 */

const execFileAsync = promisify(execFile);
const PROJECT = resolve(import.meta.dirname, '../..');
const GRAPH_TYPES = join(PROJECT, 'node_modules/@microsoft/microsoft-graph-types/microsoft-graph');

/** Annotations Graph writes in its answers (docs/graph.md §3.1: `@odata.context`, `@odata.etag`, `@odata.type`, …). */
const KNOWN_ANNOTATIONS = new Set([
  '@odata.context',
  '@odata.etag',
  '@odata.type',
  '@odata.nextLink',
  '@odata.count',
  '@odata.id',
  '@odata.mediaContentType',
]);

/**
 * Date forms as Microsoft writes them:
 * - entity dates (`receivedDateTime`, `createdDateTime`, …): UTC seconds, `2018-08-12T08:43:22Z`
 *   (docs/graph.md §3.1);
 * - an upload session's `expirationDateTime`: fractional seconds allowed, `2019-09-25T01:09:30.7671707Z`
 *   (docs/graph.md §3.1);
 * - an error's `innerError.date`: no zone, `2019-02-06T21:37:40` (docs/graph.md §3.2).
 */
/** Upload sessions are for files of 3 MB and more; chunks are multiples of 320 KiB (docs/graph.md §3.1). */
const UPLOAD_SIZE = 4 * 1024 * 1024;
const UPLOAD_CHUNK = 320 * 1024;

const ENTITY_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const UPLOAD_EXPIRY_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$/;
const ERROR_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

interface Recorded {
  /** What was called, for the failure message. */
  call: string;
  /** The TypeScript type the body must fit (names from microsoft-graph-types as `G.X`, or local helpers). */
  type: string;
  body: unknown;
}

describe('emulator Graph: answers conform to Microsoft’s published schema (microsoft-graph-types)', () => {
  let emulator: SeededEmulator;
  let dir: string;
  const recorded: Recorded[] = [];

  before(async () => {
    emulator = await startSeededEmulator();
    dir = await mkdtemp(join(tmpdir(), 'graph-schema-'));
  });
  after(async () => {
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  });

  function record(call: string, type: string, answer: GraphAnswer, status: number): Record<string, unknown> {
    assert.equal(answer.status, status, `${call}: ${answer.text.slice(0, 300)}`);
    assert.ok(answer.body, `${call}: a JSON body`);
    recorded.push({ call, type, body: answer.body });
    return answer.body;
  }

  it('records the answers of every endpoint mailbridge uses, over HTTP', async () => {
    const megan = emulator.seed.users.work;
    const token = mintGraphToken(emulator.ctx, megan);
    const graph = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      callGraph(emulator.url, token, method, path, body, headers);

    record('GET /me', 'G.User', await graph('GET', '/me'), 200);
    record('GET /me?$select=id', 'G.User', await graph('GET', '/me?$select=id,displayName,mail'), 200);
    record('GET /me/mailboxSettings', 'G.MailboxSettings', await graph('GET', '/me/mailboxSettings'), 200);
    record(
      'PATCH /me/mailboxSettings',
      'G.MailboxSettings',
      await graph('PATCH', '/me/mailboxSettings', { timeZone: 'UTC' }),
      200,
    );

    const draft = record(
      'POST /me/messages',
      'G.Message',
      await graph('POST', '/me/messages', {
        subject: 'Schema check',
        body: { contentType: 'HTML', content: '<p>hello</p>' },
        toRecipients: [{ emailAddress: { address: 'adele@contoso.com', name: 'Adele' } }],
        importance: 'high',
        internetMessageHeaders: [{ name: 'X-Check', value: '1' }],
      }),
      201,
    );
    const draftId = String(draft.id);
    record(
      'POST /me/messages/{id}/attachments',
      'G.FileAttachment',
      await graph('POST', `/me/messages/${draftId}/attachments`, {
        '@odata.type': '#microsoft.graph.fileAttachment',
        name: 'a.txt',
        contentType: 'text/plain',
        contentBytes: Buffer.from('hello').toString('base64'),
      }),
      201,
    );
    record(
      'GET /me/messages/{id}/attachments',
      'Collection<G.FileAttachment>',
      await graph('GET', `/me/messages/${draftId}/attachments`),
      200,
    );
    const session = record(
      'POST …/attachments/createUploadSession',
      'G.UploadSession',
      await graph('POST', `/me/messages/${draftId}/attachments/createUploadSession`, {
        AttachmentItem: { attachmentType: 'file', name: 'big.bin', size: UPLOAD_SIZE },
      }),
      201,
    );
    const chunk = await fetch(String(session.uploadUrl), {
      method: 'PUT',
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `bytes 0-${UPLOAD_CHUNK - 1}/${UPLOAD_SIZE}`,
      },
      body: Buffer.alloc(UPLOAD_CHUNK, 1),
    });
    record(
      'PUT {uploadUrl} (middle chunk)',
      'OutlookAttachmentSession',
      { status: chunk.status, headers: chunk.headers, body: (await chunk.json()) as Record<string, unknown>, text: '' },
      200,
    );
    record(
      'GET /me/messages/{id}',
      'G.Message',
      await graph('GET', `/me/messages/${draftId}`, undefined, { prefer: 'outlook.body-content-type="text"' }),
      200,
    );
    record(
      'GET /me/messages/{id}?$select=internetMessageHeaders',
      'G.Message',
      await graph('GET', `/me/messages/${draftId}?$select=subject,internetMessageHeaders,body`),
      200,
    );
    record(
      'PATCH /me/messages/{id}',
      'G.Message',
      await graph('PATCH', `/me/messages/${draftId}`, {
        isRead: false,
        categories: ['Blue'],
        flag: { flagStatus: 'flagged' },
      }),
      200,
    );
    assert.equal((await graph('POST', `/me/messages/${draftId}/send`)).status, 202);

    // Mail for Megan, so her Inbox has a received message and an NDR.
    const adele = mintGraphToken(emulator.ctx, emulator.seed.users.workWithMfa);
    const sent = await callGraph(emulator.url, adele, 'POST', '/me/sendMail', {
      message: {
        subject: 'Hi Megan',
        body: { contentType: 'Text', content: 'hi' },
        toRecipients: [{ emailAddress: { address: megan.email } }],
      },
    });
    assert.equal(sent.status, 202);
    assert.equal(
      (
        await graph('POST', '/me/sendMail', {
          message: {
            subject: 'To nobody',
            body: { contentType: 'Text', content: 'x' },
            toRecipients: [{ emailAddress: { address: 'ghost@contoso.com' } }],
          },
        })
      ).status,
      202,
    );
    const inbox = record(
      'GET /me/mailFolders/inbox/messages',
      'Collection<G.Message>',
      await graph('GET', '/me/mailFolders/inbox/messages?$top=50&$count=true'),
      200,
    );
    record(
      'GET …/messages?$select&$filter&$orderby',
      'Collection<G.Message>',
      await graph(
        'GET',
        `/me/mailFolders/inbox/messages?$filter=receivedDateTime ge 2000-01-01T00:00:00Z&$orderby=receivedDateTime asc&$select=id,subject,from,receivedDateTime&$top=1`,
      ),
      200,
    );
    const received = (inbox.value as Array<{ id: string; subject: string }>).find(
      (each) => each.subject === 'Hi Megan',
    )!;
    record(
      'POST /me/messages/{id}/createReply',
      'G.Message',
      await graph('POST', `/me/messages/${received.id}/createReply`, { comment: 'thanks' }),
      201,
    );
    record(
      'POST /me/messages/{id}/move',
      'G.Message',
      await graph('POST', `/me/messages/${received.id}/move`, { destinationId: 'archive' }),
      201,
    );
    record(
      'GET /me/mailFolders/sentitems/messages',
      'Collection<G.Message>',
      await graph('GET', '/me/mailFolders/sentitems/messages'),
      200,
    );

    record('GET /me/mailFolders', 'Collection<G.MailFolder>', await graph('GET', '/me/mailFolders?$top=50'), 200);
    record('GET /me/mailFolders/inbox', 'G.MailFolder', await graph('GET', '/me/mailFolders/inbox'), 200);
    record(
      'POST /me/mailFolders',
      'G.MailFolder',
      await graph('POST', '/me/mailFolders', { displayName: 'Schema folder' }),
      201,
    );
    const rule = record(
      'POST …/messageRules',
      'G.MessageRule',
      await graph('POST', '/me/mailFolders/inbox/messageRules', {
        displayName: 'Schema rule',
        sequence: 1,
        isEnabled: true,
        conditions: { subjectContains: ['schema'] },
        actions: { markAsRead: true, stopProcessingRules: true },
      }),
      201,
    );
    record(
      'GET …/messageRules',
      'Collection<G.MessageRule>',
      await graph('GET', '/me/mailFolders/inbox/messageRules'),
      200,
    );
    record(
      'PATCH …/messageRules/{id}',
      'G.MessageRule',
      await graph('PATCH', `/me/mailFolders/inbox/messageRules/${String(rule.id)}`, { isEnabled: false }),
      200,
    );

    // Errors, in Graph's documented shape.
    record('404 ErrorItemNotFound', 'GraphErrorBody', await graph('GET', '/me/messages/AAMkAGnotthere'), 404);
    record(
      '400 ErrorInvalidRecipients',
      'GraphErrorBody',
      await graph('POST', '/me/sendMail', { message: { subject: 'x' } }),
      400,
    );
    record(
      '401 InvalidAuthenticationToken',
      'GraphErrorBody',
      await callGraph(emulator.url, 'garbage', 'GET', '/me'),
      401,
    );
    record(
      '400 InefficientFilter',
      'GraphErrorBody',
      await graph('GET', `/me/mailFolders/inbox/messages?$orderby=receivedDateTime&$filter=subject eq 'x'`),
      400,
    );
  });

  it('uses only the OData annotations Graph writes, and Microsoft’s date forms', () => {
    assert.ok(recorded.length >= 20, `recorded ${recorded.length} answers`);
    const problems: string[] = [];
    for (const each of recorded) {
      walk(each.body, (key, value, path) => {
        if (key.startsWith('@') && !KNOWN_ANNOTATIONS.has(key)) problems.push(`${each.call}: annotation ${path}`);
        if (typeof value !== 'string') return;
        if (key === 'date' && path.includes('innerError')) {
          if (!ERROR_DATE.test(value)) problems.push(`${each.call}: ${path} = ${value}`);
        } else if (key.toLowerCase() === 'expirationdatetime') {
          if (!UPLOAD_EXPIRY_DATE.test(value)) problems.push(`${each.call}: ${path} = ${value}`);
        } else if (/DateTime$/.test(key) && !ENTITY_DATE.test(value)) {
          problems.push(`${each.call}: ${path} = ${value}`);
        }
      });
    }
    assert.deepEqual(problems, []);
  });

  it('type-checks every recorded body against the microsoft-graph-types interfaces with the project’s tsc', async () => {
    const lines = [
      `import type * as G from ${JSON.stringify(GRAPH_TYPES)};`,
      'type Collection<T> = { value: T[] };',
      '/** concepts/errors.md: {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}} */',
      '/** The upload host is Outlook REST v2.0, not Graph: its documented chunk answer (GD concepts/outlook-large-attachments.md). */',
      'type OutlookAttachmentSession = { ExpirationDateTime: string; nextExpectedRanges: string[] };',
      'type GraphErrorBody = { error: { code: string; message: string; innerError: { date: string; "request-id": string; "client-request-id": string; code?: string; message?: string; status?: string } } };',
    ];
    recorded.forEach((each, index) => {
      lines.push(`// ${each.call}`);
      lines.push(
        `export const answer${index}: ${each.type} = ${JSON.stringify(withoutAnnotations(each.body), null, 1)};`,
      );
    });
    await writeFile(join(dir, 'answers.ts'), `${lines.join('\n')}\n`);
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2023',
          module: 'esnext',
          moduleResolution: 'bundler',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['answers.ts'],
      }),
    );
    const tsc = join(PROJECT, 'node_modules/.bin/tsc');
    const result = await execFileAsync(tsc, ['-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
      () => ({ ok: true, output: '' }),
      (error: { stdout?: string; stderr?: string }) => ({
        ok: false,
        output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    );
    assert.ok(result.ok, explain(result.output, recorded));
  });
});

/** Calls `visit` for every property of every object in `value`, depth first. */
function walk(value: unknown, visit: (key: string, value: unknown, path: string) => void, path = '$'): void {
  if (Array.isArray(value)) {
    for (const [index, each] of value.entries()) walk(each, visit, `${path}[${index}]`);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    visit(key, child, `${path}.${key}`);
    walk(child, visit, `${path}.${key}`);
  }
}

function withoutAnnotations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutAnnotations);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !key.startsWith('@'))
      .map(([key, child]) => [key, withoutAnnotations(child)]),
  );
}

/** tsc's errors, each with the call whose answer it is about (the `// call` comment above each constant). */
function explain(output: string, recorded: Recorded[]): string {
  const found = output
    .split('\n')
    .filter((line) => line.includes('error TS'))
    .slice(0, 40);
  return `${found.length} type errors (calls: ${recorded.map((each, index) => `answer${index}=${each.call}`).join(', ')}):\n${found.join('\n')}`;
}
