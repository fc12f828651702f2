import { type SmtpSink, startSmtpSink } from '../../emulator/smtp-sink.js';
import type { DbDialect } from '../../src/db/schema.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { startTestService, type TestService } from '../support/service.js';

export const DEFAULT_SENDER = 'Acme Notifications <notifications@acme-mail.example>';

export interface MessagesService {
  service: TestService;
  emulator: SeededEmulator;
  /** The emulator's SMTP sink, the default provider's relay: what it receives lands in `emulator.ctx.world`. */
  sink: SmtpSink;
  close(): Promise<void>;
}

/**
 * A mailbridge (real clock) whose Microsoft is the emulator and whose default provider relays into the emulator's
 * SMTP sink, so both ways of sending end in the emulated world (recipient mailboxes, or the outside sink).
 */
export async function startMessagesService(dialect: DbDialect = 'sqlite'): Promise<MessagesService> {
  const emulator = await startSeededEmulator({
    urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
    redirectUris: [],
  });
  const sink = await startSmtpSink(emulator.ctx);
  const service = await startTestService({
    dialect,
    sharedEmulator: emulator,
    env: { SMTP_URL: `smtp://127.0.0.1:${sink.port}`, SMTP_FROM: DEFAULT_SENDER },
  });
  // The service's port is known only now; the demo app must accept its callbacks for the browser's connect flow.
  emulator.seed.app.redirectUris.push(
    `${service.url}/connect/callback`,
    `${service.url}/connect/admin-consent/callback`,
  );
  return {
    service,
    emulator,
    sink,
    async close() {
      await service.close();
      await sink.close();
      await emulator.close();
    },
  };
}
