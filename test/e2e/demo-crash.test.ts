import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { Browser, deliverCallback } from '../connect/connect-test-kit.js';
import { freePort } from '../support/ports.js';
import { withoutPasswords } from '../support/redact-output.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 10 item 3: the demo survives a crash. `mailbridge start` with nothing configured runs the built-in emulator;
 * its world (the demo account's grant and refresh token) is saved as it changes, so after a SIGKILL and a restart
 * the connected account is still `connected` and its mail is delivered, not held as `reconnect_required`.
 */
describe('the demo survives a crash: connect, SIGKILL, restart, send', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mailbridge-demo-crash-'));
  const snapshotFile = join(dataDir, 'emulator.json');
  const env = (port: number) => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    MAILBRIDGE_DATA_DIR: dataDir,
  });
  let port: number;
  let url: string;
  let apiKey: string;
  let service: ChildProcess | undefined;

  /** Starts `mailbridge start`; resolves with its output once it serves, and the emulator's URL from the banner. */
  async function start(): Promise<{ output: () => string; emulatorUrl: string }> {
    let stdout = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      env: env(port),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const emulatorUrl = await waitFor(
      'the demo banner',
      // The banner says where the emulator listens: "at http://127.0.0.1:<port>. Sign in to the dashboard …".
      () =>
        /mailbridge is running at/.test(stdout)
          ? /at (http:\/\/127\.0\.0\.1:\d+)\. Sign in to the dashboard/.exec(stdout)?.[1]
          : undefined,
      { timeoutMs: 60_000, intervalMs: 100, describe: () => `output so far:\n${withoutPasswords(stdout)}` },
    );
    return { output: () => stdout, emulatorUrl };
  }

  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field and checked with assert.
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }

  before(async () => {
    port = await freePort();
    url = `http://localhost:${port}`;
    const created = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'api-keys', 'create', '--org', 'Acme'],
      { env: env(port) },
    );
    apiKey = created.stdout.trim();
    assert.match(apiKey, /^mb_live_/);
  });

  after(async () => {
    if (service && service.exitCode === null && service.signalCode === null) {
      const exited = once(service, 'exit');
      service.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the connected demo account connected across a SIGKILL, and delivers its mail', async () => {
    const first = await start();

    // Connect alex@outlook.com through the hosted page and the emulator's sign-in, over real HTTP.
    const session = await api('POST', '/v1/connect-sessions', { ownerId: 'demo-owner' });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const browser = new Browser();
    const started = await browser.post(`${url}/connect/${session.body.id}/start`);
    assert.equal(started.status, 303);
    const callback = await new SignInDriver().signIn(started.location ?? '', {
      email: 'alex@outlook.com',
      password: DEMO_PASSWORD,
    });
    assert.equal(callback.kind, 'callback');
    const outcome = await deliverCallback(browser, callback);
    assert.equal(outcome.status, 200);
    const accounts = await api('GET', '/v1/accounts');
    const account = accounts.body.data.find((each: { email: string }) => each.email === 'alex@outlook.com');
    assert.equal(account?.status, 'connected');

    // The world on disk holds alex's grant without any graceful stop (saved as it changed, within moments).
    await waitFor(
      "the emulator's saved world to hold alex's refresh token",
      () => {
        if (!existsSync(snapshotFile)) return undefined;
        const saved = JSON.parse(readFileSync(snapshotFile, 'utf8')) as {
          world: {
            refreshTokens: Record<string, { userId: string; revoked: boolean }>;
            users: Record<string, { id: string; email: string }>;
          };
        };
        const alex = Object.values(saved.world.users).find((user) => user.email === 'alex@outlook.com');
        const grants = Object.values(saved.world.refreshTokens);
        return alex && grants.some((grant) => grant.userId === alex.id && !grant.revoked) ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );

    // Crash: no chance to save anything on the way down.
    const killed = once(service!, 'exit');
    service!.kill('SIGKILL');
    await killed;
    assert.match(first.output(), /mailbridge is running at/);

    const second = await start();
    const sent = await api('POST', `/v1/accounts/${account.id}/messages`, {
      to: 'friend@example.org',
      subject: 'After the crash',
      text: 'Still connected.',
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const final = await waitFor(
      'the message to leave',
      async () => {
        const message = await api('GET', `/v1/messages/${sent.body.id}`);
        return ['sent', 'failed', 'held', 'canceled'].includes(message.body.status) ? message.body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, describe: () => withoutPasswords(second.output()).slice(-2000) },
    );
    assert.equal(final.status, 'sent', JSON.stringify(final));
    const after = await api('GET', `/v1/accounts/${account.id}`);
    assert.equal(after.body.status, 'connected', JSON.stringify(after.body));

    // The emulator (restored, not re-seeded) shows the delivery: the mail left the emulated world.
    const outside = (await (
      await fetch(`${second.emulatorUrl}/_emulator/outside?to=friend@example.org&subject=After%20the%20crash`)
    ).json()) as { messages: Array<{ subject: string; from: string; internetMessageId: string }> };
    assert.equal(outside.messages.length, 1, JSON.stringify(outside).slice(0, 500));
    assert.equal(outside.messages[0]?.from, 'alex@outlook.com');
  });
});
