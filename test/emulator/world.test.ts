import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONSUMER_TENANT_ID } from '../../emulator/state/model.js';
import { findFolder } from '../../emulator/state/world.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

describe('emulator world', () => {
  let emulator: SeededEmulator;
  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  it('puts personal accounts in the consumer tenant and work accounts in their organisation', () => {
    assert.equal(emulator.seed.users.personal.tenantId, CONSUMER_TENANT_ID);
    assert.equal(emulator.seed.users.work.tenantId, emulator.seed.users.workAdmin.tenantId);
    assert.notEqual(emulator.seed.users.work.tenantId, emulator.seed.users.approvalRequired.tenantId);
  });

  it('gives every mailbox the well-known folders', () => {
    const mailbox = emulator.ctx.world.mailboxes[emulator.seed.users.work.id]!;
    for (const name of ['inbox', 'junkemail', 'sentitems', 'drafts', 'deleteditems']) {
      assert.ok(findFolder(mailbox, name), `missing ${name}`);
    }
  });

  it('is reproducible under a seed', async () => {
    const again = await startSeededEmulator();
    try {
      assert.equal(again.seed.users.personal.id, emulator.seed.users.personal.id);
    } finally {
      await again.close();
    }
  });

  it('answers unknown paths over real HTTP with 404', async () => {
    const response = await fetch(`${emulator.url}/no/such/path`);
    assert.equal(response.status, 404);
  });
});
