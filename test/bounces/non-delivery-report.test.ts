import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bounceEffectOf, bounceReasonFor } from '../../src/bounces/bounce-reasons.js';
import { looksLikeNonDeliveryReport, parseNonDeliveryReport } from '../../src/bounces/non-delivery-report.js';

/**
 * The report parser on bodies shaped as Exchange writes them (docs/graph.md §3.5:
 * "Diagnostic information for administrators" and "Original message headers"; sender and subject of Microsoft's
 * example NDR). The end-to-end path is test/bounces/bounces.
 */
const EXCHANGE = {
  emailAddress: { name: 'Microsoft Outlook', address: 'MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com' },
};

function report(smtpResponse: string, options: { from?: typeof EXCHANGE; subject?: string; messageId?: string } = {}) {
  return {
    subject: options.subject ?? 'Undeliverable: Hello',
    from: options.from ?? EXCHANGE,
    body: {
      contentType: 'text' as const,
      content: [
        'Delivery has failed to these recipients or groups:',
        '',
        'someone@fabrikam.com (someone@fabrikam.com)',
        '',
        'Diagnostic information for administrators:',
        '',
        'Generating server: contoso.com',
        '',
        'someone@fabrikam.com',
        `Remote server returned '${smtpResponse}'`,
        '',
        'Original message headers:',
        '',
        'From: Megan <megan@contoso.com>',
        'Subject: Hello',
        `Message-ID: ${options.messageId ?? '<mb.msg_01@mailbridge.example>'}`,
      ].join('\r\n'),
    },
  };
}

describe('bounces: reading a non-delivery report', () => {
  const statuses: Array<[string, string, string]> = [
    ['550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found', '5.1.1', 'recipient_unknown'],
    [
      '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
      '5.1.10',
      'recipient_unknown',
    ],
    ['550 5.1.8 Access denied, bad outbound sender', '5.1.8', 'restricted_sender'],
    [
      "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients",
      '5.1.90',
      'daily_limit',
    ],
    ['552 5.2.2 STOREDRV.Deliver; mailbox full', '5.2.2', 'mailbox_full'],
    ['550 5.7.1 Delivery not authorized', '5.7.1', 'rejected'],
  ];
  for (const [response, status, reason] of statuses) {
    it(`${status} → ${reason}`, () => {
      const parsed = parseNonDeliveryReport(report(response), 'megan@contoso.com');
      assert.deepEqual(parsed, {
        originalMessageId: '<mb.msg_01@mailbridge.example>',
        status,
        detail: `Remote server returned '${response}'`,
      });
      assert.equal(bounceReasonFor(status), reason);
    });
  }

  it('only 5.1.8 touches the account and only 5.1.90 pauses the mailbox', () => {
    assert.deepEqual(bounceEffectOf('restricted_sender'), { kind: 'account_unusable' });
    assert.deepEqual(bounceEffectOf('daily_limit'), { kind: 'pause_lane' });
    assert.deepEqual(bounceEffectOf('recipient_unknown'), { kind: 'none' });
    assert.deepEqual(bounceEffectOf('mailbox_full'), { kind: 'none' });
  });

  it('accepts Outlook.com’s postmaster of the mailbox’s own domain', () => {
    const personal = { emailAddress: { name: 'Microsoft Outlook', address: 'postmaster@outlook.com' } };
    assert.equal(
      parseNonDeliveryReport(report('550 5.1.10 x', { from: personal }), 'alex@outlook.com')?.status,
      '5.1.10',
    );
  });

  it('ignores what is not a usable report', () => {
    const other = { emailAddress: { name: 'Microsoft Outlook', address: 'postmaster@fabrikam.com' } };
    const person = { emailAddress: { name: 'Adele', address: 'adele@contoso.com' } };
    assert.equal(
      parseNonDeliveryReport(report('550 5.1.10 x', { from: other }), 'megan@contoso.com'),
      null,
      'another domain',
    );
    assert.equal(
      parseNonDeliveryReport(report('550 5.1.10 x', { from: person }), 'megan@contoso.com'),
      null,
      'a person',
    );
    assert.equal(parseNonDeliveryReport(report('550 5.1.10 x', { subject: 'Re: Hello' }), 'megan@contoso.com'), null);
    assert.equal(
      parseNonDeliveryReport(report('451 4.4.7 Message delayed'), 'megan@contoso.com'),
      null,
      'a delay is not a bounce',
    );
    const headless = report('550 5.1.10 x');
    headless.body.content = headless.body.content.replace(/Original message headers:[\s\S]*$/, '');
    assert.equal(parseNonDeliveryReport(headless, 'megan@contoso.com'), null, 'no original Message-ID');
    assert.equal(
      looksLikeNonDeliveryReport({ subject: 'Undeliverable: x', from: EXCHANGE }, 'megan@contoso.com'),
      true,
    );
  });
});
