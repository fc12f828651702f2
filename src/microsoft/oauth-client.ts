import * as oidc from 'openid-client';
import type { Clock } from '../platform/clock.js';
import type { Secret } from '../platform/secret.js';
import { MICROSOFT_LOGIN_ORIGIN } from './microsoft-routes.js';

export interface MicrosoftOAuthOptions {
  clientId: string;
  clientSecret: Secret;
  /** `common`, `organizations`, `consumers`, a tenant id or domain. */
  tenant: string;
  /** The routed transport (see microsoft-routes.ts). */
  fetch: typeof fetch;
  /** The service's clock; id_token times are checked against it. */
  clock: Clock;
}

/** How far the service clock may drift from the one a configuration was made for before it is made again. */
const SKEW_REFRESH_SECONDS = 15;

/**
 * The openid-client configuration for Microsoft's v2.0 endpoints of `tenant`.
 *
 * The server is always `https://login.microsoftonline.com/{tenant}/v2.0`, so openid-client applies its Entra ID
 * rule: with `common`/`organizations` metadata the expected `iss` is the `{tenantid}` template filled with the
 * id_token's `tid` (docs/entra.md §1.1). Non-repudiation checks verify the id_token's RS256 signature against the
 * JWKS. The client authenticates with `client_secret_post`.
 *
 * openid-client checks `iat`/`nbf`/`exp` against `Date.now()` plus the configuration's `clockSkew`, so the skew is
 * set from the service clock; with the system clock it is 0 and discovery happens once. (A test clock that moves
 * makes a new configuration; the JWKS cache is carried over.)
 */
export function createMicrosoftOAuthSource(options: MicrosoftOAuthOptions): () => Promise<oidc.Configuration> {
  let current: { skewSeconds: number; config: Promise<oidc.Configuration> } | undefined;
  return () => {
    const skewSeconds = Math.round((options.clock.now() - Date.now()) / 1000);
    if (current && Math.abs(current.skewSeconds - skewSeconds) <= SKEW_REFRESH_SECONDS) return current.config;
    const previous = current?.config;
    const entry = {
      skewSeconds,
      config: discover(options, skewSeconds, previous).catch((error: unknown) => {
        if (current === entry) current = undefined;
        throw error;
      }),
    };
    current = entry;
    return entry.config;
  };
}

async function discover(
  options: MicrosoftOAuthOptions,
  skewSeconds: number,
  previous: Promise<oidc.Configuration> | undefined,
): Promise<oidc.Configuration> {
  const server = new URL(`${MICROSOFT_LOGIN_ORIGIN}/${encodeURIComponent(options.tenant)}/v2.0`);
  const config = await oidc.discovery(
    server,
    options.clientId,
    { [oidc.clockSkew]: skewSeconds },
    oidc.ClientSecretPost(options.clientSecret.reveal()),
    { [oidc.customFetch]: options.fetch, execute: [oidc.enableNonRepudiationChecks] },
  );
  config[oidc.customFetch] = options.fetch;
  const jwks = previous ? oidc.getJwksCache(await previous.catch(() => undefined as never)) : undefined;
  if (jwks) oidc.setJwksCache(config, jwks);
  return config;
}

/**
 * A request to Microsoft's identity platform that never got its answer: the `TimeoutError`/`AbortError` of its
 * signal, or openid-client's own `ClientError` around one (codes OAUTH_TIMEOUT, OAUTH_ABORT: its requests give up
 * after the configuration's `timeout`, 30 s). It is a network failure, never an answer that failed verification.
 */
export function isRequestUnanswered(error: unknown): boolean {
  if (error instanceof oidc.ClientError) return error.code === 'OAUTH_TIMEOUT' || error.code === 'OAUTH_ABORT';
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}
