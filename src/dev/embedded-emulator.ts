import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createEmulatorContext, type RunningEmulator, startEmulator } from '../../emulator/index.js';
import { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE, seedDemo } from '../../emulator/seed.js';
import { loadSnapshot, saveSnapshot } from '../../emulator/snapshot.js';
import { Secret } from '../config/secret.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../microsoft/microsoft-routes.js';

export interface EmbeddedEmulator {
  emulator: RunningEmulator;
  clientId: string;
  clientSecret: Secret;
  /** Demo users to print for a newcomer. */
  demoUsers: Array<{ email: string; role: string; note?: string }>;
  /** Saves the emulated world (so connected demo accounts survive a restart) and stops the emulator. */
  close(): Promise<void>;
}

/**
 * The built-in Microsoft emulator `npm start` runs when no Microsoft app is configured: it impersonates
 * login.microsoftonline.com and graph.microsoft.com (the service routes those hosts to it), with the demo world,
 * and keeps its state in `${dataDir}/emulator.json` so the demo's connected accounts survive restarts.
 */
export async function startEmbeddedEmulator(options: {
  dataDir: string;
  publicUrl: string;
  port?: number;
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
  const emulator = await startEmulator({ ctx, port: options.port ?? 0, host: '127.0.0.1' });
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
    close: async () => {
      await saveSnapshot(emulator.ctx, snapshotFile);
      await emulator.close();
    },
  };
}

export { DEMO_PASSWORD };
