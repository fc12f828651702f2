import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type { EmulatorContext } from './context.js';
import { deliverSubmission, type SubmittedMessage } from './graph/delivery.js';
import { submittedFromMime } from './graph/send-routes.js';
import type { Recipient } from './state/model.js';

export interface SmtpSink {
  port: number;
  host: string;
  close(): Promise<void>;
}

/**
 * An SMTP server in front of the emulated transport: mail submitted here (mailbridge's default SMTP provider, a
 * test's nodemailer) is delivered exactly as Graph sends are, via `'smtp'`: to emulated mailboxes (Inbox/Junk,
 * rules), bounced for unknown addresses in emulated domains, or into the outside sink. No TLS; AUTH is optional
 * and any credentials are accepted (the sink is a test double, not a relay).
 */
export async function startSmtpSink(
  ctx: EmulatorContext,
  options: { port?: number; host?: string } = {},
): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    banner: 'Microsoft emulator SMTP sink',
    size: 35 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          deliverSubmission(ctx, envelopeSubmission(session, submittedFromMime(ctx, parsed), parsed.from?.value[0]));
          ctx.onStateChange?.();
          callback();
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address() as AddressInfo;
  return {
    port: address.port,
    host,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The envelope decides who receives the message; headers only decide how it looks. */
function envelopeSubmission(
  session: SMTPServerSession,
  message: SubmittedMessage,
  headerFrom: { address?: string; name?: string } | undefined,
) {
  const envelope = session.envelope.rcptTo.map((each) => each.address.toLowerCase());
  const inEnvelope = (recipient: Recipient) => envelope.includes(recipient.emailAddress.address.toLowerCase());
  const to = message.toRecipients.filter(inEnvelope);
  const cc = message.ccRecipients.filter(inEnvelope);
  const shown = new Set([...to, ...cc].map((each) => each.emailAddress.address.toLowerCase()));
  const bcc: Recipient[] = envelope
    .filter((address) => !shown.has(address))
    .map((address) => ({ emailAddress: { address } }));
  const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const fromAddress = headerFrom?.address ?? mailFrom;
  return {
    via: 'smtp' as const,
    sender: null,
    from: headerFrom?.name ? { name: headerFrom.name, address: fromAddress } : { address: fromAddress },
    message: { ...message, toRecipients: to, ccRecipients: cc, bccRecipients: bcc },
    saveToSentItems: false,
  };
}
