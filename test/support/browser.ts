import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * Real headless Chromium for browser tests: Debian's `/usr/bin/chromium` driven by playwright-core (the bundled
 * browsers cannot be downloaded here), with a fresh profile directory that `close()` removes.
 *
 *   const browser = await launchBrowser();
 *   try { await browser.page.goto(url); … } finally { await browser.close(); }
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  /** The context's first page. */
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'mailbridge-chromium-'));
  let context: BrowserContext;
  try {
    // The profile directory is Chromium's --user-data-dir; playwright passes it itself for persistent contexts.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      try {
        await context.close();
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
    },
  };
}

export interface RecordedCallback {
  method: string;
  /** Path and query as requested. */
  url: string;
  /** Query parameters, or the form fields of a POST (`response_mode=form_post`). */
  params: URLSearchParams;
}

export interface CallbackRecorder {
  /** Origin of the recorder, e.g. `http://127.0.0.1:41234`; register `${url}/callback` as a redirect URI. */
  url: string;
  callbacks: RecordedCallback[];
  /** The next callback (or one already recorded and not yet taken). */
  next(timeoutMs?: number): Promise<RecordedCallback>;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A tiny app stand-in for redirect targets: records every request's query (or form body) and answers a small
 * page, so a browser test can read what the identity pages sent back to "the app".
 */
export async function startCallbackRecorder(): Promise<CallbackRecorder> {
  const callbacks: RecordedCallback[] = [];
  let taken = 0;
  const waiters: Array<() => void> = [];
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://recorder');
    if (url.pathname === '/favicon.ico') {
      // Browsers ask for it after loading the callback page; it is not a callback.
      response.writeHead(404).end();
      return;
    }
    const body = request.method === 'POST' ? await readBody(request) : '';
    const params = request.method === 'POST' ? new URLSearchParams(body) : url.searchParams;
    callbacks.push({ method: request.method ?? 'GET', url: request.url ?? '/', params });
    for (const wake of waiters.splice(0)) wake();
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>Callback received</title><h1 id="callback-received">Callback received</h1>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    callbacks,
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (taken >= callbacks.length) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error('no callback arrived at the recorder');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return callbacks[taken++]!;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
