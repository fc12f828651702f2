import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadSnapshot } from '../../emulator/snapshot.js';
import { loadConfig } from '../../src/config/load-config.js';
import { startEmbeddedEmulator, withEmulatorRelay } from '../../src/dev/embedded-emulator.js';
import { createSmtpProvider } from '../../src/providers/smtp-provider.js';
import { startBackgroundWork } from '../../src/worker/background-work.js';
import { deliveriesOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

describe('outbox wiring: the background loop sends', () => {
  let h: OutboxHarness;
  before(async () => {
    h = await startOutboxHarness('sqlite');
  });
  after(async () => {
    await h?.close();
  });

  it("a tick of the background work runs the outbox with the loop's token provider", async () => {
    const account = await h.connect('megan@contoso.com', { profile: 'send', ownerId: 'megan' });
    const answer = await h.send(`/v1/accounts/${account}/messages`, { to: 'lee@fabrikam.com', text: 'From the loop' });
    assert.equal(answer.status, 202);
    const work = startBackgroundWork(h.service.deps, { autoStart: false });
    assert.ok(work.tasks.some((task) => task.name === 'outbox'));
    await work.runOnce();
    await work.stop();
    const row = await h.message(answer.body.id);
    assert.equal(row.status, 'sent');
    assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
  });
});

describe('outbox wiring: the demo relays the default provider into the embedded emulator', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'mailbridge-demo-'));
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts an SMTP sink with the embedded emulator; without SMTP_URL the default provider uses it', async () => {
    const saveErrors: unknown[] = [];
    const embedded = await startEmbeddedEmulator({
      dataDir,
      publicUrl: 'http://localhost:3999',
      onSaveError: (error) => saveErrors.push(error),
    });
    try {
      const config = withEmulatorRelay(loadConfig({ MAILBRIDGE_DATA_DIR: dataDir }), embedded.smtpSink);
      assert.equal(config.smtp?.port, embedded.smtpSink.port);
      const provider = createSmtpProvider(config.smtp!);
      try {
        await provider.send({
          from: config.smtp!.from,
          envelopeFrom: 'no-reply@mailbridge-demo.test',
          to: [{ address: 'someone@example.org' }],
          cc: [],
          bcc: [],
          replyTo: [],
          subject: 'Demo relay',
          text: 'Hello',
          headers: [],
          attachments: [],
          messageId: '<mb.demo@localhost>',
        });
      } finally {
        provider.close();
      }
      const outside = embedded.emulator.ctx.world.outside.filter(
        (each) => each.internetMessageId === '<mb.demo@localhost>',
      );
      assert.equal(outside.length, 1);
      assert.equal(outside[0]!.subject, 'Demo relay');
      // Saved as it happened, not only at close: the snapshot on disk already holds the relayed message.
      await embedded.flush();
      const saved = loadSnapshot(join(dataDir, 'emulator.json'));
      assert.equal(saved.world.outside.filter((each) => each.internetMessageId === '<mb.demo@localhost>').length, 1);
      assert.deepEqual(saveErrors, []);
      // An operator's own relay wins.
      const configured = loadConfig({
        MAILBRIDGE_DATA_DIR: dataDir,
        SMTP_URL: 'smtp://relay.example.com:587',
        SMTP_FROM: 'a@example.com',
      });
      assert.equal(withEmulatorRelay(configured, embedded.smtpSink).smtp?.host, 'relay.example.com');
    } finally {
      await embedded.close();
    }
  });
});
