/**
 * Two mailbridge processes sharing PostgreSQL, 50 concurrent token requests in each for one account whose access
 * token has expired: exactly one refresh reaches the emulator, and all 100 callers get that one token. The second
 * process is a real Node process (tsx) running test/tokens/fixtures/token-process.ts. @see issue 3 "Done when"
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addFault } from '../../emulator/control/actions.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { type LifecycleHarness, startLifecycleHarness } from './support/lifecycle-harness.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/token-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CALLERS = 50;

interface ChildReport {
  ok: number;
  failed: string[];
  tokens: string[];
}

describe('single-flight refresh across processes [postgres]', () => {
  let h: LifecycleHarness;
  before(async () => {
    h = await startLifecycleHarness({ dialect: 'postgres' });
  });
  after(async () => {
    await h?.close();
  });

  test('two processes, 50 concurrent requests each, an expired access token: one refresh', async () => {
    const accountId = await h.connect(h.emulator.seed.users.work);
    h.advance(2 * 3600);
    const before = h.tokenRequests();
    if (h.database.config.dialect !== 'postgres') throw new Error('postgres expected');

    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: {
        ...process.env,
        MB_DATABASE_URL: h.database.config.url.reveal(),
        MB_KEYS: h.keyText,
        MB_EMULATOR_URL: h.emulator.url,
        MB_CLIENT_ID: h.emulator.seed.app.clientId,
        MB_CLIENT_SECRET: h.emulator.clientSecret,
        MB_NOW: String(h.deps.clock.now()),
        MB_ACCOUNT_ID: accountId,
        MB_CALLERS: String(CALLERS),
      },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    assert.equal(first.value, 'ready');

    // The one refresh answers late, so both processes are surely waiting for it at the same time.
    addFault(h.emulator.ctx, { kind: 'latency', target: 'token', latencyMs: 300, count: 1 });
    const provider = new AccessTokenProvider(h.deps);
    child.stdin.write('go\n');
    const mine = await Promise.all(Array.from({ length: CALLERS }, () => provider.getAccessToken(accountId)));
    const reportLine = await lines.next();
    assert.equal(await exited, 0);
    const report = JSON.parse(String(reportLine.value)) as ChildReport;

    assert.deepEqual(report.failed, []);
    assert.equal(report.ok, CALLERS);
    assert.equal(h.tokenRequests(), before + 1, 'exactly one refresh reached the emulator');
    const myTokens = new Set(mine.map((t) => createHash('sha256').update(t.token.reveal()).digest('hex')));
    assert.equal(myTokens.size, 1);
    assert.deepEqual(report.tokens, [...myTokens], 'both processes hand out the same, refreshed token');
    const row = await h.account(accountId);
    assert.equal(row.last_refreshed_at, h.deps.clock.now());
    assert.equal(row.status, 'connected');
  });
});
