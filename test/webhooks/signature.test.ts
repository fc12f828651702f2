import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { AppError } from '../../src/errors/app-error.js';
import {
  signWebhook,
  verifyWebhook,
  verifyWebhookOrThrow,
  WEBHOOK_SIGNATURE_HEADER,
} from '../../src/webhooks/signature.js';

const secret = 'whsec_test_0123456789abcdef';
const body = JSON.stringify({ type: 'account.connected', data: { id: 'acc_1' } });
const t = 1_700_000_000;

describe('signWebhook', () => {
  test('header is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, independently computed', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    assert.equal(signWebhook(secret, body, t), `t=${t},v1=${expected}`);
    assert.equal(WEBHOOK_SIGNATURE_HEADER, 'Mailbridge-Signature');
  });

  test('bytes and string bodies sign the same', () => {
    assert.equal(signWebhook(secret, Buffer.from(body), t), signWebhook(secret, body, t));
  });

  test('several secrets give several v1 entries', () => {
    const header = signWebhook(['new-secret', 'old-secret'], body, t);
    assert.equal(header.split(',').filter((p) => p.startsWith('v1=')).length, 2);
  });

  test('refuses an empty secret or a non-integer timestamp', () => {
    assert.throws(
      () => signWebhook('', body, t),
      (err: unknown) => err instanceof AppError && err.code === 'WEBHOOK_SECRET_INVALID',
    );
    assert.throws(
      () => signWebhook(secret, body, 1.5),
      (err: unknown) => err instanceof AppError,
    );
  });
});

describe('verifyWebhook', () => {
  const header = signWebhook(secret, body, t);

  test('valid within the window', () => {
    assert.deepEqual(verifyWebhook(secret, body, header, { nowSeconds: t + 10 }), { ok: true, timestampSeconds: t });
    assert.equal(verifyWebhook(secret, Buffer.from(body), header, { nowSeconds: t - 299 }).ok, true);
  });

  test('tampered body', () => {
    const result = verifyWebhook(secret, body.replace('acc_1', 'acc_2'), header, { nowSeconds: t });
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.code, 'WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('tampered timestamp (replay with a fresh t) fails the signature', () => {
    const replayed = header.replace(`t=${t}`, `t=${t + 3600}`);
    const result = verifyWebhook(secret, body, replayed, { nowSeconds: t + 3600 });
    assert.equal(!result.ok && result.code, 'WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('replayed outside the window', () => {
    const result = verifyWebhook(secret, body, header, { nowSeconds: t + 301 });
    assert.equal(!result.ok && result.code, 'WEBHOOK_SIGNATURE_TIMESTAMP_OUT_OF_TOLERANCE');
    const early = verifyWebhook(secret, body, header, { nowSeconds: t - 301 });
    assert.equal(!early.ok && early.code, 'WEBHOOK_SIGNATURE_TIMESTAMP_OUT_OF_TOLERANCE');
    const custom = verifyWebhook(secret, body, header, { nowSeconds: t + 30, toleranceSeconds: 10 });
    assert.equal(!custom.ok && custom.code, 'WEBHOOK_SIGNATURE_TIMESTAMP_OUT_OF_TOLERANCE');
  });

  test('wrong secret', () => {
    const result = verifyWebhook('another-secret', body, header, { nowSeconds: t });
    assert.equal(!result.ok && result.code, 'WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('missing header', () => {
    for (const missing of [undefined, null, '', '   ']) {
      const result = verifyWebhook(secret, body, missing, { nowSeconds: t });
      assert.equal(!result.ok && result.code, 'WEBHOOK_SIGNATURE_MISSING');
    }
  });

  test('malformed headers', () => {
    const v1 = header.split(',')[1] ?? '';
    const malformed = [
      'garbage',
      `${v1}`, // no timestamp
      `t=${t}`, // no signature
      `t=abc,${v1}`,
      `t=${t},t=${t},${v1}`,
      `t=${t},v1=not-hex`,
      `t=${t},v1=${'a'.repeat(63)}`,
      `t=${t},,${v1}`,
      `t=${t},${v1},${'x'.repeat(5000)}`,
    ];
    for (const bad of malformed) {
      const result = verifyWebhook(secret, body, bad, { nowSeconds: t });
      assert.equal(!result.ok && result.code, 'WEBHOOK_SIGNATURE_MALFORMED', bad.slice(0, 80));
    }
  });

  test('secret rotation: any v1 entry may match, and unknown schemes are ignored', () => {
    const rotated = signWebhook(['new-secret', secret], body, t);
    assert.equal(verifyWebhook(secret, body, rotated, { nowSeconds: t }).ok, true);
    assert.equal(verifyWebhook('new-secret', body, rotated, { nowSeconds: t }).ok, true);
    // The receiver knowing both secrets while the sender still signs with the old one.
    assert.equal(verifyWebhook(['new-secret', secret], body, header, { nowSeconds: t }).ok, true);
    const withV0 = `${header},v0=${'0'.repeat(64)}`;
    assert.equal(verifyWebhook(secret, body, withV0, { nowSeconds: t }).ok, true);
  });

  test('verifyWebhookOrThrow throws an AppError with the failure code and 401', () => {
    assert.throws(
      () => verifyWebhookOrThrow(secret, `${body} `, header, { nowSeconds: t }),
      (err: unknown) => err instanceof AppError && err.code === 'WEBHOOK_SIGNATURE_MISMATCH' && err.status === 401,
    );
    assert.deepEqual(verifyWebhookOrThrow(secret, body, header, { nowSeconds: t }), { timestampSeconds: t });
  });
});
