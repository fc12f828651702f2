import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { SmtpConfig } from '../config/config.js';

/**
 * The default provider (issue 4 item 2): the operator's SMTP relay, through nodemailer. Owners without a connected
 * Microsoft mailbox (or who did not choose "Personal Outlook") get their mail out through it, from `SMTP_FROM`. In
 * the emulator mode with no SMTP_URL, the relay is the emulator's SMTP sink (main.ts), so the mail lands in emulated
 * mailboxes or the emulator's outside sink, readable by a person and by tests.
 */

export interface OutgoingMail {
  /** `SMTP_FROM` (`address` or `Name <address>`). */
  from: string;
  to: Array<{ address: string; name?: string }>;
  cc: Array<{ address: string; name?: string }>;
  bcc: Array<{ address: string; name?: string }>;
  replyTo: Array<{ address: string; name?: string }>;
  subject: string;
  text?: string;
  html?: string;
  /** Custom `x-` headers (already validated: no line breaks). */
  headers: Array<{ name: string; value: string }>;
  attachments: Array<{ name: string; contentType: string; contentBase64: string }>;
  /** Our Message-ID, `<mb.…@host>`. */
  messageId: string;
  /** The envelope sender: the address part of `from`. */
  envelopeFrom: string;
}

export interface SmtpAccepted {
  messageId: string;
  /** The relay's final answer (`250 …`). */
  response: string;
  accepted: string[];
  rejected: string[];
}

/** Whether a failed submission reached the relay: decides between a retry and the unknown-outcome policy. */
export type SmtpFailureKind = 'not_sent' | 'rejected' | 'temporary' | 'unknown';

export interface SmtpFailure {
  kind: SmtpFailureKind;
  code: string | undefined;
  responseCode: number | undefined;
  /** The relay's answer or the socket error, for the attempt log (never credentials: nodemailer never puts them in). */
  detail: string;
}

export interface SmtpProvider {
  send(mail: OutgoingMail): Promise<SmtpAccepted>;
  close(): void;
}

/** System errors that mean the connection was never made: nothing reached the relay. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);
/** Nodemailer codes raised before the message could have been handed over. */
const BEFORE_DATA = new Set([
  'EDNS',
  'ETLS',
  'EAUTH',
  'ENOAUTH',
  'EOAUTH2',
  'EENVELOPE',
  'EREQUIRETLS',
  'ECONFIG',
  'EPROXY',
]);
const BEFORE_DATA_TIMEOUTS = new Set(['CONNECTION_TIMEOUT', 'GREETING_TIMEOUT', 'DNS_TIMEOUT']);

/**
 * Classifies a nodemailer error (RFC 5321 §4.2.1): a 4yz answer is a temporary refusal (retry), a 5yz a permanent
 * one (503 excepted, as nodemailer does); without an answer, a connection that never opened or a failure before DATA
 * sent nothing, while a socket error or timeout later may have come after the relay took the message: unknown.
 */
export function classifySmtpFailure(error: unknown): SmtpFailure {
  const err = (error ?? {}) as {
    code?: string;
    originalCode?: string;
    responseCode?: number;
    response?: string;
    timeoutType?: string;
    message?: string;
  };
  const detail = (err.response ?? err.message ?? String(error)).split(/\r?\n/, 1)[0]?.slice(0, 300) ?? '';
  const base = { code: err.code, responseCode: err.responseCode, detail };
  if (typeof err.responseCode === 'number') {
    if (err.responseCode >= 500 && err.responseCode !== 503) return { kind: 'rejected', ...base };
    if (err.responseCode >= 400) return { kind: 'temporary', ...base };
  }
  if (err.code !== undefined && BEFORE_DATA.has(err.code)) return { kind: 'not_sent', ...base };
  if (err.originalCode !== undefined && NOT_CONNECTED.has(err.originalCode)) return { kind: 'not_sent', ...base };
  if (err.code === 'ETIMEDOUT' && err.timeoutType !== undefined && BEFORE_DATA_TIMEOUTS.has(err.timeoutType)) {
    return { kind: 'not_sent', ...base };
  }
  return { kind: 'unknown', ...base };
}

/** The address part of `Name <address>` (or the whole value). */
export function addressOf(value: string): string {
  return /<([^<>]+)>\s*$/.exec(value)?.[1]?.trim() ?? value.trim();
}

export function createSmtpProvider(config: SmtpConfig, options: { timeoutMs?: number } = {}): SmtpProvider {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const transportOptions: SMTPTransport.Options = {
    host: config.host,
    port: config.port,
    secure: config.secure,
    connectionTimeout: Math.min(timeoutMs, 30_000),
    greetingTimeout: Math.min(timeoutMs, 30_000),
    socketTimeout: timeoutMs,
    ...(config.user !== undefined ? { auth: { user: config.user, pass: config.password?.reveal() ?? '' } } : {}),
  };
  const transport = nodemailer.createTransport(transportOptions);
  return {
    async send(mail: OutgoingMail): Promise<SmtpAccepted> {
      const address = (each: { address: string; name?: string }) =>
        each.name === undefined ? each.address : { address: each.address, name: each.name };
      const info = await transport.sendMail({
        from: mail.from,
        to: mail.to.map(address),
        cc: mail.cc.map(address),
        bcc: mail.bcc.map(address),
        ...(mail.replyTo.length > 0 ? { replyTo: mail.replyTo.map(address) } : {}),
        subject: mail.subject,
        ...(mail.text === undefined ? {} : { text: mail.text }),
        ...(mail.html === undefined ? {} : { html: mail.html }),
        headers: mail.headers.map((header) => ({ key: header.name, value: header.value })),
        attachments: mail.attachments.map((attachment) => ({
          filename: attachment.name,
          contentType: attachment.contentType,
          content: attachment.contentBase64,
          encoding: 'base64',
        })),
        messageId: mail.messageId,
        envelope: {
          from: mail.envelopeFrom,
          to: [...mail.to, ...mail.cc, ...mail.bcc].map((each) => each.address),
        },
      });
      const list = (values: Array<string | { address: string }>) =>
        values.map((value) => (typeof value === 'string' ? value : value.address));
      return {
        messageId: info.messageId,
        response: info.response,
        accepted: list(info.accepted),
        rejected: list(info.rejected),
      };
    },
    close() {
      transport.close();
    },
  };
}
