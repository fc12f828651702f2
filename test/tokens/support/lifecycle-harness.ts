import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { EmulatorClock } from '../../../emulator/clock.js';
import type { EmulatorSettings } from '../../../emulator/context.js';
import { SignInDriver } from '../../../emulator/identity/sign-in-driver.js';
import { DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE } from '../../../emulator/seed.js';
import type { User } from '../../../emulator/state/model.js';
import { upsertConnectedAccount } from '../../../src/accounts/upsert-connected-account.js';
import { composeService } from '../../../src/compose.js';
import type { Config } from '../../../src/config/config.js';
import { loadConfig } from '../../../src/config/load-config.js';
import {
  type PermissionProfile,
  parseGrantedScopes,
  requestedScopes,
} from '../../../src/connect/permission-profiles.js';
import type { DbDialect } from '../../../src/db/schema.js';
import type { AccountsTable } from '../../../src/db/tables/accounts.js';
import {
  MICROSOFT_GRAPH_ORIGIN,
  MICROSOFT_LOGIN_ORIGIN,
  routeMicrosoftUrl,
} from '../../../src/microsoft/microsoft-routes.js';
import { ensureDefaultOrganization } from '../../../src/orgs/organizations.js';
import type { Clock } from '../../../src/platform/clock.js';
import { createLogger } from '../../../src/platform/logger.js';
import { Secret } from '../../../src/platform/secret.js';
import type { ServiceDeps } from '../../../src/services.js';
import { parseKeyRingOrThrow } from '../../../src/vault/key-ring.js';
import { PlaintextSecret } from '../../../src/vault/secret-types.js';
import { openTestDatabase, type TestDatabase } from '../../support/databases.js';
import { type SeededEmulator, startSeededEmulator } from '../../support/emulator.js';

/** Where the emulator sends the browser back: nobody serves it, the sign-in driver stops there. */
export const TEST_REDIRECT_URI = 'http://127.0.0.1:3999/connect/callback';

export interface LifecycleHarness {
  emulator: SeededEmulator;
  deps: ServiceDeps;
  config: Config;
  database: TestDatabase;
  /** The key ring text (`id:base64`), for a second process that must open the same vault. */
  keyText: string;
  organizationId: string;
  logLines: string[];
  /** Signs `user` in at the emulator (scripted browser), redeems the code, stores the account as the connect flow does. */
  connect(user: User, profile?: PermissionProfile): Promise<string>;
  /** How many refresh/code grants reached the emulator's token endpoint so far. */
  tokenRequests(): number;
  /** Moves the emulator's clock, which the service's clock follows. */
  advance(seconds: number): void;
  account(accountId: string): Promise<AccountsTable>;
  close(): Promise<void>;
}

export interface LifecycleHarnessOptions {
  dialect?: DbDialect;
  env?: Record<string, string>;
  settings?: Partial<Omit<EmulatorSettings, 'limits'>>;
  /** An emulator to share (it must list TEST_REDIRECT_URI); closed by its owner. */
  emulator?: SeededEmulator;
}

/**
 * The service's dependencies (as composeService wires them: real database, vault, openid-client discovery) over an
 * emulator that impersonates login.microsoftonline.com and graph.microsoft.com on a real port, with the service's
 * clock following the emulator's, so that advancing one advances both. No HTTP app: the token lifecycle is
 * background work.
 */
export async function startLifecycleHarness(options: LifecycleHarnessOptions = {}): Promise<LifecycleHarness> {
  const emulator =
    options.emulator ??
    (await startSeededEmulator({
      urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
      redirectUris: [TEST_REDIRECT_URI],
      settings: options.settings,
      // Frozen: time moves only when a test advances it, so expiry arithmetic is exact.
      clock: new EmulatorClock({ frozen: true }),
    }));
  const database = await openTestDatabase(options.dialect ?? 'sqlite');
  const keyText = `test:${randomBytes(32).toString('base64')}`;
  const config = loadConfig({
    PUBLIC_URL: 'http://127.0.0.1:3999',
    MAILBRIDGE_DATA_DIR: '/nonexistent-test-data-dir',
    MAILBRIDGE_KEYS: keyText,
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const logLines: string[] = [];
  const logger = createLogger(config, { destination: { write: (line: string) => void logLines.push(line) } });
  const clock: Clock = { now: () => emulator.ctx.clock.now() };
  const composed = await composeService({
    config,
    logger,
    keyRing: parseKeyRingOrThrow(keyText),
    clock,
    database,
    microsoft: {
      clientId: emulator.seed.app.clientId,
      clientSecret: new Secret(emulator.clientSecret),
      tenant: 'common',
      routes: { login: emulator.url, graph: emulator.url },
      mode: 'emulator',
    },
  });
  const { deps } = composed;
  const organization = await ensureDefaultOrganization(deps.db, clock);

  const connect = async (user: User, profile: PermissionProfile = 'warmup'): Promise<string> => {
    // openid-client checks the id_token's iat/nbf against its own clock: shift it to the service clock, which
    // follows the emulator's (advanced by the tests), as the real clocks agree in production.
    const oauth = await oidc.discovery(
      new URL(`${MICROSOFT_LOGIN_ORIGIN}/common/v2.0`),
      deps.microsoft.clientId,
      { [oidc.clockSkew]: Math.round((clock.now() - Date.now()) / 1000) },
      oidc.ClientSecretPost(emulator.clientSecret),
      { [oidc.customFetch]: deps.microsoft.fetch, execute: [oidc.enableNonRepudiationChecks] },
    );
    oauth[oidc.customFetch] = deps.microsoft.fetch;
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authorizeUrl = oidc.buildAuthorizationUrl(oauth, {
      redirect_uri: TEST_REDIRECT_URI,
      scope: requestedScopes(profile).join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      prompt: 'select_account',
    });
    const callback = await new SignInDriver().signIn(routeMicrosoftUrl(authorizeUrl.href, deps.microsoft.routes), {
      email: user.email,
      password: DEMO_PASSWORD,
      secondFactorCode: DEMO_SECOND_FACTOR_CODE,
      consent: 'accept',
    });
    const callbackUrl = new URL(callback.url);
    for (const [name, value] of callback.params) callbackUrl.searchParams.set(name, value);
    const tokens = await oidc.authorizationCodeGrant(oauth, callbackUrl, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const claims = tokens.claims();
    if (!claims || !tokens.refresh_token) throw new Error('the code exchange gave no id_token or refresh token');
    const result = await upsertConnectedAccount(deps, {
      organizationId: organization.id,
      ownerExternalId: `owner-${user.email}`,
      permissionProfile: profile,
      grantedScopes: parseGrantedScopes(tokens.scope),
      identity: {
        tenantId: String(claims.tid),
        objectId: String(claims.oid),
        email: user.email,
        displayName: user.displayName,
      },
      tokens: {
        accessToken: PlaintextSecret.from(tokens.access_token),
        refreshToken: PlaintextSecret.from(tokens.refresh_token),
        expiresInSeconds: tokens.expiresIn() ?? 3600,
      },
    });
    return result.accountId;
  };

  return {
    emulator,
    deps,
    config,
    database,
    keyText,
    organizationId: organization.id,
    logLines,
    connect,
    tokenRequests: () =>
      emulator.ctx.requestLog.filter((entry) => entry.method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(entry.path))
        .length,
    advance: (seconds: number) => emulator.ctx.clock.advance(seconds),
    account: async (accountId: string) =>
      deps.db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirstOrThrow(),
    close: async () => {
      await composed.close();
      await database.close();
      if (!options.emulator) await emulator.close();
    },
  };
}
