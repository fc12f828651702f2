import * as oidc from 'openid-client';
import type { Secret } from '../config/secret.js';
import { MICROSOFT_LOGIN_ORIGIN } from './microsoft-routes.js';

export interface MicrosoftOAuthOptions {
  clientId: string;
  clientSecret: Secret;
  /** `common`, `organizations`, `consumers`, a tenant id or domain. */
  tenant: string;
  /** The routed transport (see microsoft-routes.ts). */
  fetch: typeof fetch;
}

/**
 * The openid-client configuration for Microsoft's v2.0 endpoints of `tenant`, discovered once.
 *
 * The server is always `https://login.microsoftonline.com/{tenant}/v2.0`, so openid-client applies its Entra ID
 * rule: with `common`/`organizations` metadata the expected `iss` is the `{tenantid}` template filled with the
 * id_token's `tid` (microsoft.md §1.1). Non-repudiation checks verify the id_token's RS256 signature against the
 * JWKS. The client authenticates with `client_secret_post`.
 */
export async function discoverMicrosoftOAuth(options: MicrosoftOAuthOptions): Promise<oidc.Configuration> {
  const server = new URL(`${MICROSOFT_LOGIN_ORIGIN}/${encodeURIComponent(options.tenant)}/v2.0`);
  const config = await oidc.discovery(
    server,
    options.clientId,
    undefined,
    oidc.ClientSecretPost(options.clientSecret.reveal()),
    { [oidc.customFetch]: options.fetch, execute: [oidc.enableNonRepudiationChecks] },
  );
  config[oidc.customFetch] = options.fetch;
  return config;
}

/** Lazily discovers once and shares the result (a failed discovery is retried on the next call). */
export function memoizeDiscovery(discover: () => Promise<oidc.Configuration>): () => Promise<oidc.Configuration> {
  let pending: Promise<oidc.Configuration> | undefined;
  return () => {
    pending ??= discover().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
