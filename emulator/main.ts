import { randomBytes } from 'node:crypto';
import { createEmulatorContext, startEmulator } from './index.js';
import { DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE, seedDemo } from './seed.js';

/**
 * `npm run emulator`: a standalone emulator with the demo world, for trying mailbridge by hand and for host-app
 * developers testing their own integration. Environment: EMULATOR_PORT (default 4010), EMULATOR_SEED,
 * EMULATOR_REDIRECT_URIS (comma-separated; default mailbridge's local callbacks), EMULATOR_CLIENT_SECRET.
 */
export async function runEmulatorCommand(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const port = Number(env.EMULATOR_PORT ?? 4010);
  const ctx = createEmulatorContext({ seed: env.EMULATOR_SEED });
  const redirectUris = (
    env.EMULATOR_REDIRECT_URIS ??
    'http://localhost:3000/connect/callback,http://localhost:3000/connect/admin-consent/callback'
  )
    .split(',')
    .map((uri) => uri.trim())
    .filter(Boolean);
  // The emulator's demo app is a fake registration at a fake Microsoft; its secret is shown so that a
  // developer can point a client at it. It is not a real credential.
  const clientSecret = env.EMULATOR_CLIENT_SECRET ?? `emu~${randomBytes(18).toString('base64url')}`;
  const seed = seedDemo(ctx, { redirectUris, clientSecret });
  const emulator = await startEmulator({ ctx, port, host: '127.0.0.1' });
  const lines = [
    `Microsoft emulator listening on ${emulator.url}`,
    `  discovery:   ${emulator.url}/common/v2.0/.well-known/openid-configuration`,
    `  graph:       ${emulator.url}/v1.0/me`,
    `  control API: ${emulator.url}/_emulator/ (see emulator/README.md)`,
    `  seed:        ${ctx.random.seed}`,
    '',
    `Demo app "${seed.app.displayName}"`,
    `  client id:     ${seed.app.clientId}`,
    `  client secret: ${clientSecret} (emulator only)`,
    `  redirect URIs: ${seed.app.redirectUris.join(', ')}`,
    '',
    `Demo users (password "${DEMO_PASSWORD}"):`,
    ...Object.entries(seed.users).map(
      ([role, user]) =>
        `  ${user.email.padEnd(22)} ${role}${user.secondFactorCode ? ` (second factor code ${DEMO_SECOND_FACTOR_CODE})` : ''}`,
    ),
  ];
  console.log(lines.join('\n'));
  const stop = async () => {
    await emulator.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
