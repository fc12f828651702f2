import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { freePort } from '../support/ports.js';
import { withoutPasswords } from '../support/redact-output.js';
import { waitFor } from '../support/wait.js';

/**
 * The README's quick start as a newcomer runs it: `mailbridge start` with nothing configured (embedded SQLite in a
 * fresh data directory, the built-in Microsoft emulator, a generated dashboard password printed once), then the whole
 * connect flow in real headless Chromium.
 */
describe('quick start: `mailbridge start` with nothing configured', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mailbridge-quick-start-'));
  let service: ChildProcess;
  let stdout = '';
  let url: string;
  let browser: TestBrowser;

  before(async () => {
    const port = await freePort();
    url = `http://localhost:${port}`;
    service = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), MAILBRIDGE_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    service.stderr?.resume();
    await waitFor(
      'the demo banner',
      () => (/Demo Microsoft accounts/.test(stdout) && /password/i.test(stdout) ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 100, describe: () => `output so far:\n${withoutPasswords(stdout)}` },
    );
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    if (service && service.exitCode === null && service.signalCode === null) {
      const exited = once(service, 'exit');
      service.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints where to go and how to sign in, then connects a Microsoft account in the browser', async () => {
    // Matched against the redacted output: a failed match prints its input, and stdout holds the admin password.
    assert.match(withoutPasswords(stdout), new RegExp(`mailbridge is running at ${url}`));
    assert.match(withoutPasswords(stdout), /alex@outlook\.com/);
    const admin = /email:\s*(\S+@\S+)[\s\S]*?password:\s*(\S+)/i.exec(stdout);
    assert.ok(admin, `the first admin's credentials are printed once:\n${withoutPasswords(stdout)}`);
    const [, adminEmail, adminPassword] = admin;

    const { page } = browser;
    await page.goto(`${url}/dashboard`);
    await page.waitForURL((target) => target.pathname === '/dashboard/sign-in');
    await page.fill('#email', adminEmail!);
    await page.fill('#password', adminPassword!);
    await page.click('#sign-in');
    await page.waitForSelector('#add-account');

    await page.click('#add-account');
    await page.waitForSelector('#provider-microsoft');
    await page.click('#provider-microsoft');
    // The built-in emulator's sign-in page (another origin), then consent.
    await page.waitForURL((target) => target.origin !== new URL(url).origin);
    await page.fill('#email', 'alex@outlook.com');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    await page.waitForSelector('#accept');
    await page.click('#accept');
    await page.waitForSelector('#connected-email');
    await page.click('#continue');
    await page.waitForURL((target) => target.pathname === '/dashboard');
    assert.match((await page.textContent('#connect-notice')) ?? '', /Connected as alex@outlook\.com/);
    assert.equal((await page.locator('.badge.connected').first().textContent())?.trim(), 'Connected');

    // The embedded SQLite database holds the account, with its tokens sealed.
    const db = new Database(join(dataDir, 'mailbridge.db'), { readonly: true });
    try {
      const row = db.prepare("select status from accounts where email = 'alex@outlook.com'").get() as {
        status: string;
      };
      assert.equal(row.status, 'connected');
      const tokens = db.prepare('select refresh_token from account_tokens').get() as { refresh_token: string };
      assert.match(tokens.refresh_token, /^v1\./);
    } finally {
      db.close();
    }
  });
});
