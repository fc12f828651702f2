import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { sendAadError } from '../errors.js';
import { CONSUMER_TENANT_ID, type SigningKey } from '../state/model.js';
import { resolveTenantSegment, type TenantSegment } from '../state/world.js';
import { aadsts } from './aadsts.js';
import { signingKeysOrCreate } from './signing-keys.js';

/**
 * OpenID Connect discovery, the JWKS and MSAL's instance discovery. @see docs/entra.md §1.1
 */

const ISSUER_TEMPLATE_TENANT = '{tenantid}';

/** The tenant part of endpoint URLs: the tenant's GUID for a tenant (even one named by domain), else the alias. */
function endpointTenant(segment: TenantSegment, given: string): string {
  if (segment.kind === 'tenant') return segment.tenant.id;
  if (segment.kind === 'consumers' && given.toLowerCase() === CONSUMER_TENANT_ID) return CONSUMER_TENANT_ID;
  return segment.kind;
}

/** `common`/`organizations` publish the literal `{tenantid}` template; the rest their tenant's issuer. */
function issuerTenant(segment: TenantSegment): string {
  if (segment.kind === 'tenant') return segment.tenant.id;
  if (segment.kind === 'consumers') return CONSUMER_TENANT_ID;
  return ISSUER_TEMPLATE_TENANT;
}

function segmentOrError(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply): TenantSegment | null {
  const given = (request.params as { tenant: string }).tenant;
  const segment = resolveTenantSegment(ctx.world, given);
  if (!segment) {
    sendAadError(ctx, reply, aadsts.tenantNotFound(given), 400);
    return null;
  }
  return segment;
}

export function handleOpenIdConfiguration(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  const segment = segmentOrError(ctx, request, reply);
  if (!segment) return reply;
  const given = (request.params as { tenant: string }).tenant;
  const base = `${ctx.urls.login}/${endpointTenant(segment, given)}`;
  const graphHost = new URL(ctx.urls.graph).host;
  return reply.header('cache-control', 'max-age=86400, private').send({
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${ctx.urls.login}/${issuerTenant(segment)}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${ctx.urls.graph}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'preferred_username',
      'name',
      'tid',
      'ver',
      'at_hash',
      'c_hash',
      'email',
    ],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: segment.kind === 'tenant' ? 'NA' : null,
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: graphHost,
    rbac_url: 'https://pas.windows.net',
  });
}

function jwk(ctx: EmulatorContext, key: SigningKey, issuerTenantId: string) {
  return {
    kty: 'RSA',
    use: 'sig',
    kid: key.kid,
    x5t: key.x5t,
    n: key.publicJwk.n,
    e: key.publicJwk.e,
    x5c: [key.x5c],
    cloud_instance_name: 'microsoftonline.com',
    issuer: `${ctx.urls.login}/${issuerTenantId}/v2.0`,
  };
}

/**
 * The key set. On `common` each key names the issuer it signs for: `{tenantid}` for the organisations' key, the
 * consumer tenant for the personal accounts' key (docs/entra.md §1.1), so clients can restrict keys by issuer.
 */
export function handleKeys(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  const segment = segmentOrError(ctx, request, reply);
  if (!segment) return reply;
  const keys = signingKeysOrCreate(ctx);
  const org = keys.find((key) => key.audience === 'org')!;
  const consumer = keys.find((key) => key.audience === 'consumer')!;
  let published: Array<ReturnType<typeof jwk>>;
  switch (segment.kind) {
    case 'common':
      published = [jwk(ctx, org, ISSUER_TEMPLATE_TENANT), jwk(ctx, consumer, CONSUMER_TENANT_ID)];
      break;
    case 'organizations':
      published = [jwk(ctx, org, ISSUER_TEMPLATE_TENANT)];
      break;
    case 'consumers':
      published = [jwk(ctx, consumer, CONSUMER_TENANT_ID)];
      break;
    case 'tenant':
      published = [jwk(ctx, org, segment.tenant.id)];
      break;
  }
  return reply.header('cache-control', 'max-age=86400, private').send({ keys: published });
}

/**
 * MSAL's instance discovery (`/common/discovery/instance?api-version=1.1&authorization_endpoint=…`). MSAL skips it
 * for Microsoft's own hosts (it has their metadata built in) but calls it for any other authority host.
 * @see docs/entra.md §1.1
 */
export function handleInstanceDiscovery(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  const authorizationEndpoint = (request.query as Record<string, unknown>).authorization_endpoint;
  let tenant = 'common';
  if (typeof authorizationEndpoint === 'string' && URL.canParse(authorizationEndpoint)) {
    tenant = new URL(authorizationEndpoint).pathname.split('/').filter(Boolean)[0] ?? 'common';
  }
  const host = new URL(ctx.urls.login).host;
  const aliases =
    host === 'login.microsoftonline.com'
      ? ['login.microsoftonline.com', 'login.windows.net', 'login.microsoft.com', 'sts.windows.net']
      : [host];
  return reply.send({
    tenant_discovery_endpoint: `${ctx.urls.login}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases }],
  });
}
