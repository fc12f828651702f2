import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmulatorClock } from '../../emulator/clock.js';
import { addFault, grantUserConsent, resolveUserOrThrow, updateSettings } from '../../emulator/control/actions.js';
import { createEmulatorContext, type RunningEmulator, startEmulator } from '../../emulator/index.js';
import { DEMO_IDS, seedDemo } from '../../emulator/seed.js';
import { loadSnapshot, saveSnapshot, takeSnapshot } from '../../emulator/snapshot.js';
import { startSnapshotAutosave } from '../../emulator/snapshot-autosave.js';
import { issueRefreshToken } from '../../emulator/state/tokens.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, mintGraphToken } from '../support/graph-token.js';
import { waitFor } from '../support/wait.js';

// Snapshots over real HTTP: save through POST /_emulator/snapshot, load into a new emulator, compare what the
// control API shows of both.

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return (await response.json()) as T;
}

describe('emulator snapshots', () => {
  let dir: string;
  let original: SeededEmulator;
  const running: RunningEmulator[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailbridge-snapshot-'));
    original = await startSeededEmulator();
    running.push(original);
  });
  after(async () => {
    for (const emulator of running) await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips users, mailboxes, consents, tokens, faults, settings and the clock through a file', async () => {
    const ctx = original.ctx;
    const file = join(dir, 'nested', 'state.json');
    ctx.snapshotFile = file;
    const megan = original.seed.users.work;
    // Change the world through the control API, as a test or a developer would.
    const control = (path: string, method: string, body?: unknown) =>
      fetch(`${original.url}/_emulator${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    assert.equal((await control('/clock/advance', 'POST', { days: 30 })).status, 200);
    assert.equal((await control('/users', 'POST', { email: 'new@contoso.com', password: 'pw-new-1' })).status, 201);
    assert.equal((await control('/users/lee@fabrikam.com', 'PATCH', { disabled: true })).status, 200);
    assert.equal(
      (await control(`/tenants/fabrikam.com/admin-consents/${DEMO_IDS.clientId}`, 'PUT', { scopes: ['Mail.Send'] }))
        .status,
      200,
    );
    grantUserConsent(ctx, megan, DEMO_IDS.clientId, ['Mail.Send', 'offline_access']);
    const refresh = issueRefreshToken(ctx, {
      clientId: DEMO_IDS.clientId,
      userId: megan.id,
      scopes: ['Mail.Send'],
      sessionId: 'sid-1',
    });
    addFault(ctx, { kind: 'throttle429', target: 'send', user: megan.email, count: 3, retryAfterSeconds: 7 });
    updateSettings(ctx, { limits: { exchange: { recipientsPer24h: 123_456 } } });
    const mailbox = ctx.world.mailboxes[megan.id]!;
    mailbox.reputation = 0.9;
    // Whatever other modules keep in the world travels with it.
    (ctx.world as unknown as Record<string, unknown>).someModuleState = { nested: [1, 2, 3] };

    const saved = await control('/snapshot', 'POST');
    assert.equal(saved.status, 200);
    const savedBody = (await saved.json()) as { file: string; bytes: number };
    assert.equal(savedBody.file, file);
    assert.equal(statSync(file).size, savedBody.bytes);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the file holds test passwords and secrets: owner only');
    assert.deepEqual(readdirSync(join(dir, 'nested')), ['state.json'], 'no temporary file is left behind');
    assert.equal(readFileSync(file, 'utf8').includes(refresh.token), false, 'tokens are saved only as digests');

    const restoredCtx = loadSnapshot(file);
    assert.equal(restoredCtx.snapshotFile, file);
    const restored = await startEmulator({ ctx: restoredCtx });
    running.push(restored);

    for (const path of [
      '/users',
      '/tenants',
      '/apps',
      '/faults',
      '/settings',
      `/users/${megan.email}`,
      `/users/${megan.email}/consents`,
      `/mailboxes/${megan.email}`,
      '/admin-approval-requests',
    ]) {
      const before = await getJson<unknown>(`${original.url}/_emulator${path}`);
      const after = await getJson<unknown>(`${restored.url}/_emulator${path}`);
      assert.deepEqual(after, before, path);
    }
    assert.deepEqual(restoredCtx.world, JSON.parse(JSON.stringify(ctx.world)));
    assert.equal(restoredCtx.world.refreshTokens[refresh.record.tokenHash]!.sessionId, 'sid-1');
    assert.equal(resolveUserOrThrow(restoredCtx, 'lee@fabrikam.com').disabled, true);
    assert.deepEqual((restoredCtx.world as unknown as Record<string, unknown>).someModuleState, { nested: [1, 2, 3] });
    assert.deepEqual(restoredCtx.world.signingKeys, ctx.world.signingKeys);

    const clockBefore = await getJson<{ offsetMs: number; nowMs: number }>(`${original.url}/_emulator/clock`);
    const clockAfter = await getJson<{ offsetMs: number; nowMs: number }>(`${restored.url}/_emulator/clock`);
    // The restored clock keeps the offset from real time (a few ms of real time pass between the two readings).
    assert.ok(
      Math.abs(clockAfter.offsetMs - clockBefore.offsetMs) < 1000,
      `${clockAfter.offsetMs} vs ${clockBefore.offsetMs}`,
    );
    assert.ok(clockAfter.offsetMs >= 30 * 86_400_000 - 1000);

    // The random sequence continues where it was saved: both emulators now invent the same ids.
    assert.equal(restoredCtx.random.seed, ctx.random.seed);
    assert.equal(restoredCtx.random.guid(), ctx.random.guid());
    assert.equal(restoredCtx.nextRequestSeq, ctx.nextRequestSeq);
  });

  it('restores a frozen clock frozen at the saved instant', async () => {
    const ctx = createEmulatorContext({
      seed: 'frozen',
      clock: new EmulatorClock({ startAt: Date.UTC(2030, 0, 1), frozen: true }),
    });
    seedDemo(ctx, { redirectUris: ['http://localhost:1/cb'], clientSecret: 'frozen-secret-1' });
    ctx.clock.advance(3600);
    const file = join(dir, 'frozen.json');
    await saveSnapshot(ctx, file);
    const restored = loadSnapshot(file);
    assert.equal(restored.clock.frozen, true);
    assert.equal(restored.clock.now(), Date.UTC(2030, 0, 1, 1));
    assert.equal(restored.world.apps[DEMO_IDS.clientId]!.secrets[0]!.value, 'frozen-secret-1');
  });

  it('replaces an existing snapshot whole, and can serve with a clock and settings given at load', async () => {
    const file = join(dir, 'replace.json');
    writeFileSync(file, 'old contents that are not a snapshot');
    await saveSnapshot(original.ctx, file);
    const clock = new EmulatorClock({ startAt: Date.UTC(2031, 5, 1), frozen: true });
    const restored = loadSnapshot(file, {
      clock,
      settings: { limits: { concurrentRequestsPerMailbox: 9 } },
      snapshotFile: null,
    });
    assert.equal(restored.clock, clock);
    assert.equal(restored.settings.limits.concurrentRequestsPerMailbox, 9);
    assert.equal(restored.settings.limits.exchange.recipientsPer24h, 123_456, 'saved settings are kept');
    assert.equal(restored.snapshotFile, null);
    assert.deepEqual(takeSnapshot(restored).world, takeSnapshot(original.ctx).world);
  });

  it('loads a world saved before personal accounts had their own Graph id, keeping the oid clients stored', async () => {
    // Before issue 9 a personal account had one GUID as oid and Graph id, and no `graphId`: rebuild that shape.
    const old = takeSnapshot(original.ctx);
    const alex = Object.values(old.world.users).find((user) => user.email === 'alex@outlook.com')!;
    const oldOid = '3f2b8c1e-6a4d-4e5f-9b7a-1c2d3e4f5a6b';
    delete old.world.users[alex.id];
    old.world.users[oldOid] = { ...alex, id: oldOid };
    delete old.world.users[oldOid]!.graphId;
    old.world.mailboxes[oldOid] = { ...old.world.mailboxes[alex.id]!, userId: oldOid };
    delete old.world.mailboxes[alex.id];
    const file = join(dir, 'before-graph-ids.json');
    writeFileSync(file, JSON.stringify(old));

    const meOf = async () => {
      const emulator = await startEmulator({ ctx: loadSnapshot(file, { snapshotFile: null }) });
      running.push(emulator);
      const user = emulator.ctx.world.users[oldOid]!;
      assert.equal(user.id, oldOid, 'the oid a client keyed the account on is kept');
      const answer = await callGraph(emulator.url, mintGraphToken(emulator.ctx, user), 'GET', '/me');
      assert.equal(answer.status, 200);
      return answer.body!;
    };
    const first = await meOf();
    assert.match(String(first.id), /^[0-9a-f]{16}$/);
    assert.equal(first.mail, null);
    assert.equal(first.userPrincipalName, 'alex@outlook.com');
    // The Graph id is derived, not drawn: the same file gives the same id every time it is loaded.
    assert.equal((await meOf()).id, first.id);
  });

  it('refuses files that are missing or not snapshots', () => {
    assert.throws(() => loadSnapshot(join(dir, 'missing.json')), /cannot read snapshot/);
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, '{"format":"something-else"}');
    assert.throws(() => loadSnapshot(garbage), /not a usable snapshot/);
    const truncated = join(dir, 'truncated.json');
    writeFileSync(truncated, JSON.stringify(takeSnapshot(original.ctx)).slice(0, 500));
    assert.throws(() => loadSnapshot(truncated), /cannot read snapshot/);
    const noUsers = takeSnapshot(original.ctx) as unknown as { world: Record<string, unknown> };
    delete noUsers.world.users;
    const partial = join(dir, 'partial.json');
    writeFileSync(partial, JSON.stringify(noUsers));
    assert.throws(() => loadSnapshot(partial), /world\.users/);
  });
});

describe('emulator snapshot autosave', () => {
  let dir: string;
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('saves what the control API changed without being asked, coalesces a burst, and stops when told', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailbridge-autosave-'));
    const file = join(dir, 'world.json');
    const ctx = createEmulatorContext({ seed: 'autosave' });
    seedDemo(ctx, { redirectUris: ['http://localhost:3000/connect/callback'], clientSecret: 'emu~autosave' });
    const errors: unknown[] = [];
    const autosave = startSnapshotAutosave(ctx, file, { onError: (error) => errors.push(error) });
    const emulator = await startEmulator({ ctx });
    const addUser = async (email: string) => {
      const response = await fetch(`${emulator.url}/_emulator/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: 'pw-autosave-1' }),
      });
      assert.equal(response.status, 201, await response.text());
    };
    const savedEmails = (): string[] => {
      try {
        return Object.values(loadSnapshot(file).world.users).map((user) => user.email);
      } catch {
        return []; // not written yet
      }
    };
    try {
      // One change: on disk soon after, with no save requested.
      await addUser('first@autosave.example');
      await waitFor(
        'the change to be saved',
        () => (savedEmails().includes('first@autosave.example') ? true : undefined),
        {
          timeoutMs: 10_000,
          intervalMs: 20,
        },
      );
      // A burst: after flush, the file holds every change of it.
      const burst = Array.from({ length: 20 }, (_, i) => `burst${i}@autosave.example`);
      for (const email of burst) await addUser(email);
      await autosave.flush();
      const saved = savedEmails();
      for (const email of burst) assert.ok(saved.includes(email), email);
      assert.deepEqual(errors, []);
      // Stopped: changes are no longer noted (the caller saves last, as mailbridge does on a graceful stop).
      await autosave.stop();
      assert.equal(ctx.onStateChange, undefined);
      await addUser('late@autosave.example');
      await autosave.flush();
      assert.ok(!savedEmails().includes('late@autosave.example'));
    } finally {
      await autosave.stop();
      await emulator.close();
    }
  });
});
