import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { evidenceFromNetworkError } from '../../src/microsoft/error-evidence.js';
import { requestFetch } from '../../src/platform/http-transport.js';

/**
 * The back channel's transport (src/platform/http-transport.ts) answers as Node's own `fetch` does, over real
 * sockets: each case runs through both and compares what a caller can see.
 */
describe('requestFetch: fetch’s contract on undici’s request', () => {
  let server: Server;
  let origin: string;
  const received: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

  const answer = (request: IncomingMessage, response: ServerResponse, body: string) => {
    received.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
    switch (request.url) {
      case '/token':
        response.setHeader('content-type', 'application/json; charset=utf-8');
        response.setHeader('set-cookie', ['a=1', 'b=2']);
        response.end(JSON.stringify({ access_token: 'at', expires_in: 3600 }));
        return;
      case '/accepted':
        response.statusCode = 202;
        response.end();
        return;
      case '/no-content':
        response.statusCode = 204;
        response.end();
        return;
      case '/moved':
        response.statusCode = 302;
        response.setHeader('location', '/token');
        response.end();
        return;
      case '/throttled':
        response.statusCode = 429;
        response.setHeader('retry-after', '7');
        response.end('{"error":{"code":"TooManyRequests"}}');
        return;
      case '/silent':
        return; // never answers
      case '/hang-up':
        request.socket.destroy();
        return;
      case '/cut':
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        response.write('{"partial":');
        setTimeout(() => request.socket.destroy(), 20);
        return;
      default:
        response.statusCode = 404;
        response.end();
    }
  };

  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => answer(request, response, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** What a caller sees of an answer. */
  const seen = async (response: Response) => ({
    status: response.status,
    ok: response.ok,
    contentType: response.headers.get('content-type'),
    cookies: response.headers.getSetCookie(),
    retryAfter: response.headers.get('retry-after'),
    body: response.body === null ? null : await response.text(),
  });

  it('answers a form POST as fetch does: status, headers, body, and the form sent with its content type', async () => {
    const form = () => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt' });
    received.length = 0;
    const ours = await seen(await requestFetch(`${origin}/token`, { method: 'POST', body: form() }));
    const theirs = await seen(await fetch(`${origin}/token`, { method: 'POST', body: form() }));
    assert.deepEqual(ours, theirs);
    assert.deepEqual(ours.cookies, ['a=1', 'b=2']);
    assert.equal(received[0]?.body, 'grant_type=refresh_token&refresh_token=rt');
    assert.equal(received[0]?.headers['content-type'], received[1]?.headers['content-type']);
  });

  it('answers 202, 204 and 429 as fetch does (no body where the status has none)', async () => {
    for (const path of ['/accepted', '/no-content', '/throttled']) {
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' };
      assert.deepEqual(
        await seen(await requestFetch(`${origin}${path}`, init)),
        await seen(await fetch(`${origin}${path}`, init)),
        path,
      );
    }
  });

  it('follows a redirect unless told not to, as fetch does', async () => {
    assert.deepEqual(await seen(await requestFetch(`${origin}/moved`)), await seen(await fetch(`${origin}/moved`)));
    const manual = await requestFetch(`${origin}/moved`, { redirect: 'manual' });
    assert.equal(manual.status, 302);
    assert.equal(manual.headers.get('location'), '/token');
  });

  it('fails below HTTP with the evidence fetch gives: refused, hung up, timed out', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/token`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const failures: [string, RequestInit][] = [
      [closedUrl, { method: 'POST', body: 'x' }],
      [`${origin}/hang-up`, { method: 'POST', body: 'x' }],
      [`${origin}/silent`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(100) }],
    ];
    for (const [url, init] of failures) {
      const ours = await requestFetch(url, init).then(
        () => assert.fail(`${url} answered`),
        (error: unknown) => error,
      );
      const theirs = await fetch(url, { ...init, signal: init.signal ? AbortSignal.timeout(100) : null }).then(
        () => assert.fail(`${url} answered`),
        (error: unknown) => error,
      );
      assert.equal((ours as Error).name, (theirs as Error).name, url);
      const { description: _ours, ...oursEvidence } = evidenceFromNetworkError(ours);
      const { description: _theirs, ...theirsEvidence } = evidenceFromNetworkError(theirs);
      assert.deepEqual(oursEvidence, theirsEvidence, url);
    }
  });

  it('resolves when the status line arrived and rejects reading a body then lost, as fetch does', async () => {
    const ours = await requestFetch(`${origin}/cut`, { method: 'POST', body: '{}' });
    const theirs = await fetch(`${origin}/cut`, { method: 'POST', body: '{}' });
    assert.equal(ours.status, theirs.status);
    const [oursError, theirsError] = await Promise.all(
      [ours, theirs].map((response) =>
        response.text().then(
          () => assert.fail('the body was read whole'),
          (error: unknown) => error as Error,
        ),
      ),
    );
    assert.equal(oursError?.name, theirsError?.name);
    assert.equal(evidenceFromNetworkError(oursError).networkCode, evidenceFromNetworkError(theirsError).networkCode);
  });
});
