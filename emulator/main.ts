import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EmulatorContext } from './context.js';
import { createEmulatorContext, startEmulator } from './index.js';
import { MICROSOFT_ORIGINS } from './microsoft-hosts.js';
import { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE, seedDemo } from './seed.js';
import { loadSnapshot, saveSnapshot } from './snapshot.js';
import { startSnapshotAutosave } from './snapshot-autosave.js';

/**
 * `npm run emulator [-- --port P] [--as-microsoft]`: a standalone emulator with the demo world, for trying
 * mailbridge by hand and for host-app developers testing their own integration.
 *
 * `--port` (or EMULATOR_PORT; default 4010; 0 = any free port). `--as-microsoft`: present itself under Microsoft's
 * host names (login.microsoftonline.com, graph.microsoft.com, outlook.office.com) in everything it writes (issuers,
 * discovery, `@odata.nextLink`, upload URLs), for clients whose fetch routes those hosts to the emulator, so that an
 * unmodified SDK that follows absolute links stays on "Microsoft". Environment: EMULATOR_SEED,
 * EMULATOR_REDIRECT_URIS (comma-separated; default mailbridge's local callbacks), EMULATOR_CLIENT_SECRET,
 * EMULATOR_SNAPSHOT (a file: loaded at start when it exists, instead of seeding; saved as the state changes, on
 * SIGINT/SIGTERM and by `POST /_emulator/snapshot`).
 */
export async function runEmulatorCommand(
  env: NodeJS.ProcessEnv = process.env,
  args: readonly string[] = [],
): Promise<void> {
  const options = parseEmulatorArgs(args, env);
  if ('problem' in options) {
    console.error(`mailbridge emulator: ${options.problem}`);
    console.error('usage: npm run emulator -- [--port <0-65535>] [--as-microsoft]');
    process.exitCode = 2;
    return;
  }
  const { port } = options;
  const urls = options.asMicrosoft ? MICROSOFT_ORIGINS : {};
  const snapshotFile = env.EMULATOR_SNAPSHOT ? resolve(env.EMULATOR_SNAPSHOT) : null;
  const restored = snapshotFile !== null && existsSync(snapshotFile);
  let ctx: EmulatorContext;
  let demoSecret: string | null = null;
  const roles = new Map<string, string>();
  if (restored) {
    ctx = loadSnapshotOrThrow(snapshotFile, urls);
    if (env.EMULATOR_SEED && env.EMULATOR_SEED !== ctx.random.seed) {
      console.warn(`EMULATOR_SEED is ignored: the snapshot continues its own seed (${ctx.random.seed})`);
    }
  } else {
    ctx = createEmulatorContext({ seed: env.EMULATOR_SEED, urls });
    ctx.snapshotFile = snapshotFile;
    const redirectUris = (
      env.EMULATOR_REDIRECT_URIS ??
      'http://localhost:3000/connect/callback,http://localhost:3000/connect/admin-consent/callback'
    )
      .split(',')
      .map((uri) => uri.trim())
      .filter(Boolean);
    // The emulator's demo app is a fake registration at a fake Microsoft; its secret is shown so that a
    // developer can point a client at it. It is not a real credential.
    demoSecret = env.EMULATOR_CLIENT_SECRET ?? `emu~${randomBytes(18).toString('base64url')}`;
    const seed = seedDemo(ctx, { redirectUris, clientSecret: demoSecret });
    for (const [role, user] of Object.entries(seed.users)) roles.set(user.id, role);
  }
  const autosave = snapshotFile
    ? startSnapshotAutosave(ctx, snapshotFile, {
        onError: (error) => console.error(`Could not save the emulator's state to ${snapshotFile} (retrying):`, error),
      })
    : undefined;
  const emulator = await startEmulator({ ctx, port, host: '127.0.0.1' });
  console.log(describe(ctx, emulator.url, restored ? snapshotFile : null, demoSecret, roles));

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    let code = 0;
    await emulator.close();
    await autosave?.stop();
    if (ctx.snapshotFile) {
      try {
        const saved = await saveSnapshot(ctx, ctx.snapshotFile);
        console.log(`Saved the emulator's state to ${saved.file}`);
      } catch (error) {
        console.error(`Could not save the emulator's state to ${ctx.snapshotFile}:`, error);
        code = 1;
      }
    }
    process.exit(code);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const ARG_OPTIONS = {
  port: { type: 'string' },
  'as-microsoft': { type: 'boolean' },
} as const;

export type EmulatorArgs = { port: number; asMicrosoft: boolean } | { problem: string };

/** The command's options: `--port` wins over EMULATOR_PORT. A bad value is a problem to report, never a guess. */
export function parseEmulatorArgs(args: readonly string[], env: NodeJS.ProcessEnv): EmulatorArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof ARG_OPTIONS }>>;
  try {
    parsed = parseArgs({ args: [...args], options: ARG_OPTIONS, strict: true, allowPositionals: false });
  } catch (error) {
    return { problem: (error as Error).message };
  }
  const asMicrosoft = parsed.values['as-microsoft'] ?? false;
  const rawPort = parsed.values.port;
  // A bad flag is a usage error (exit 2); a bad EMULATOR_PORT is a configuration problem (EmulatorConfigError).
  if (rawPort === undefined) return { port: emulatorPortOrThrow(env.EMULATOR_PORT), asMicrosoft };
  if (!/^\d{1,5}$/.test(rawPort) || Number(rawPort) > 65_535) {
    return { problem: `--port must be a port number from 0 to 65535 (0: any free port), not "${rawPort}"` };
  }
  return { port: Number(rawPort), asMicrosoft };
}

/**
 * A problem with the emulator's environment: the CLI prints its message alone (no stack trace), as `mailbridge start`
 * prints a configuration problem.
 */
export class EmulatorConfigError extends Error {
  constructor(variable: string, problem: string, options?: { cause?: unknown }) {
    super(`mailbridge emulator cannot start: the configuration has 1 problem:\n  - ${variable}: ${problem}`, options);
    this.name = 'EmulatorConfigError';
  }
}

function emulatorPortOrThrow(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 4010;
  const port = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || port > 65535) {
    throw new EmulatorConfigError(
      'EMULATOR_PORT',
      `"${value}" is not a port; set EMULATOR_PORT to an integer from 0 to 65535 (default 4010)`,
    );
  }
  return port;
}

function loadSnapshotOrThrow(file: string, urls: Partial<EmulatorContext['urls']>): EmulatorContext {
  try {
    return loadSnapshot(file, { snapshotFile: file, urls });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new EmulatorConfigError(
      'EMULATOR_SNAPSHOT',
      `${file} cannot be restored (${reason}); move it away to start from the demo world`,
      { cause: error },
    );
  }
}

function describe(
  ctx: EmulatorContext,
  url: string,
  restoredFrom: string | null,
  demoSecret: string | null,
  roles: Map<string, string>,
): string {
  const lines = [
    `Microsoft emulator listening on ${url}`,
    `  discovery:   ${ctx.urls.login}/common/v2.0/.well-known/openid-configuration`,
    `  graph:       ${ctx.urls.graph}/v1.0/me`,
    `  control API: ${url}/_emulator/ (see emulator/README.md)`,
    `  seed:        ${ctx.random.seed}`,
  ];
  if (ctx.urls.login !== url) {
    lines.push(
      `  presenting:  ${[ctx.urls.login, ctx.urls.graph, ctx.urls.outlook].join(', ')} (route them to ${url})`,
    );
  }
  if (restoredFrom) lines.push(`  restored:    ${restoredFrom} (clock ${new Date(ctx.clock.now()).toISOString()})`);
  else if (ctx.snapshotFile) lines.push(`  snapshot:    ${ctx.snapshotFile} (saved on exit)`);
  const app = ctx.world.apps[DEMO_IDS.clientId];
  if (app) {
    // After a restore the demo secret is whichever live secret the app has (it may have been rotated).
    const secret =
      demoSecret ?? app.secrets.filter((entry) => entry.expiresAt > ctx.clock.now()).at(-1)?.value ?? '(none valid)';
    lines.push(
      '',
      `Demo app "${app.displayName}"`,
      `  client id:     ${app.clientId}`,
      `  client secret: ${secret} (emulator only)`,
      `  redirect URIs: ${app.redirectUris.join(', ')}`,
    );
  }
  const users = Object.values(ctx.world.users);
  if (users.length > 0) {
    lines.push('', restoredFrom ? 'Users:' : `Demo users (password "${DEMO_PASSWORD}"):`);
    for (const user of users) {
      const notes = [
        roles.get(user.id) ?? user.kind,
        user.isAdmin ? 'admin' : null,
        user.secondFactorCode ? `second factor code ${restoredFrom ? '(set)' : DEMO_SECOND_FACTOR_CODE}` : null,
        user.disabled ? 'disabled' : null,
      ].filter(Boolean);
      lines.push(`  ${user.email.padEnd(22)} ${notes.join(', ')}`);
    }
  }
  return lines.join('\n');
}
