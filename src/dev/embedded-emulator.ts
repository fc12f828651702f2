import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createEmulatorContext, type RunningEmulator, startEmulator } from '../../emulator/index.js';
import { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE, seedDemo } from '../../emulator/seed.js';
import { startSmtpSink } from '../../emulator/smtp-sink.js';
import { loadSnapshot, saveSnapshot } from '../../emulator/snapshot.js';
import { startSnapshotAutosave } from '../../emulator/snapshot-autosave.js';
import type { Config } from '../config/config.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../microsoft/microsoft-routes.js';
import { Secret } from '../platform/secret.js';

export interface EmbeddedEmulator {
  emulator: RunningEmulator;
  clientId: string;
  clientSecret: Secret;
  /** Demo users to print for a newcomer. */
  demoUsers: Array<{ email: string; role: string; note?: string }>;
  /** The emulator's SMTP sink: the default provider's relay when no SMTP_URL is set (`withEmulatorRelay`). */
  smtpSink: { host: string; port: number };
  /** Resolves when every change to the world so far is on disk. */
  flush(): Promise<void>;
  /** Saves the emulated world a last time and stops the emulator (it is also saved as it changes). */
  close(): Promise<void>;
}

/**
 * The built-in Microsoft emulator `npm start` runs when no Microsoft app is configured: it impersonates
 * login.microsoftonline.com and graph.microsoft.com (the service routes those hosts to it), with the demo world,
 * and keeps its state in `${dataDir}/emulator.json`, saved as it changes (snapshot-autosave.ts), so the demo's
 * connected accounts survive restarts and crashes.
 */
export async function startEmbeddedEmulator(options: {
  dataDir: string;
  publicUrl: string;
  port?: number;
  /** Told when a save of the world fails (it is retried). */
  onSaveError: (error: unknown) => void;
}): Promise<EmbeddedEmulator> {
  const snapshotFile = join(options.dataDir, 'emulator.json');
  const urls = { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN };
  let ctx = existsSync(snapshotFile) ? loadSnapshot(snapshotFile, { urls, snapshotFile }) : undefined;
  if (!ctx) {
    ctx = createEmulatorContext({ urls });
    ctx.snapshotFile = snapshotFile;
    seedDemo(ctx, {
      redirectUris: [`${options.publicUrl}/connect/callback`, `${options.publicUrl}/connect/admin-consent/callback`],
      clientSecret: `emu~${randomBytes(24).toString('base64url')}`,
    });
  }
  const app = ctx.world.apps[DEMO_IDS.clientId];
  const secret = app?.secrets[0];
  if (!app || !secret) throw new Error(`the emulator snapshot ${snapshotFile} has no demo app; delete it to re-seed`);
  // Saved at once (a freshly seeded world included): a crash before the first change still finds this world, whose
  // app secret the service is about to use.
  await saveSnapshot(ctx, snapshotFile);
  const autosave = startSnapshotAutosave(ctx, snapshotFile, { onError: options.onSaveError });
  const emulator = await startEmulator({ ctx, port: options.port ?? 0, host: '127.0.0.1' });
  const sink = await startSmtpSink(ctx, { host: '127.0.0.1' });
  const users = Object.values(ctx.world.users);
  const demoUsers = users.map((user) => ({
    email: user.email,
    role: `${user.kind}${user.isAdmin ? ', admin' : ''}${ctx.world.tenants[user.tenantId]?.userConsent === 'forbidden' ? ', tenant requires admin approval' : ''}`,
    ...(user.secondFactorCode ? { note: `second factor code ${DEMO_SECOND_FACTOR_CODE}` } : {}),
  }));
  return {
    emulator,
    clientId: app.clientId,
    clientSecret: new Secret(secret.value),
    demoUsers,
    smtpSink: { host: sink.host, port: sink.port },
    flush: () => autosave.flush(),
    close: async () => {
      await autosave.stop();
      await saveSnapshot(emulator.ctx, snapshotFile);
      await sink.close();
      await emulator.close();
    },
  };
}

export { DEMO_PASSWORD };

/**
 * The configuration with the emulator's SMTP sink as the default provider's relay when the operator set none: mail
 * sent through the default provider then lands in emulated mailboxes or the emulator's outside sink
 * (`GET /_emulator/outside`), where a person (and a test) can read it. @see issue 4 item 2
 */
export function withEmulatorRelay(config: Config, sink: { host: string; port: number }): Config {
  if (config.smtp) return config;
  const url = `smtp://${sink.host}:${sink.port}`;
  return Object.freeze({
    ...config,
    smtp: Object.freeze({
      url: new Secret(url),
      host: sink.host,
      port: sink.port,
      secure: false,
      user: undefined,
      password: undefined,
      from: 'mailbridge demo <no-reply@mailbridge-demo.test>',
    }),
  });
}
