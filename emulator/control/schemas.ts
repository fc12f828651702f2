import { z } from 'zod';
import { RECORDED_ERROR_NAMES } from '../recorded-errors.js';
import { invalidRequest } from './control-error.js';

/**
 * Request schemas of the control API. Objects are strict: an unknown field is a 400 that names it, so that a typo
 * never silently does nothing.
 */

/** Parses `value` or throws a 400 `CONTROL_INVALID_REQUEST` whose message lists every problem with its path. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, where = 'body'): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length ? `${where}.${issue.path.join('.')}` : where;
    return `${path}: ${issue.message}`;
  });
  throw invalidRequest(problems.join('; '));
}

const nonEmpty = z.string().trim().min(1, 'must not be empty');
const guid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a GUID');
const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be a domain name such as contoso.com');
const scope = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._:/-]+$/, 'must be a scope name such as Mail.Send');
const redirectUri = z.url('must be an absolute URL');
const seconds = z.number().finite().positive();
const count = z.number().int().positive();
const isoOrEpoch = z.union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()]);

/** Epoch ms from an ISO 8601 string or an epoch-ms number. */
export function toEpochMs(value: string | number): number {
  return typeof value === 'number' ? value : Date.parse(value);
}

export const clockAdvanceBody = z.strictObject({
  seconds: seconds.optional(),
  minutes: seconds.optional(),
  hours: seconds.optional(),
  days: seconds.optional(),
});

const tenantPolicyFields = {
  displayName: nonEmpty.optional(),
  domains: z.array(domain).min(1).optional(),
  userConsent: z.enum(['allowed', 'forbidden']).optional(),
  adminOnlyScopes: z.array(scope).optional(),
  adminConsentWorkflow: z.boolean().optional(),
};

export const createTenantBody = z.strictObject({
  ...tenantPolicyFields,
  id: guid.optional(),
  displayName: nonEmpty,
  domains: z.array(domain).min(1, 'a tenant needs at least one verified domain'),
});

export const updateTenantBody = z.strictObject(tenantPolicyFields);

export const scopesBody = z.strictObject({ scopes: z.array(scope).min(1) });

export const createUserBody = z.strictObject({
  id: guid.optional(),
  email: z.email('must be an email address'),
  password: z.string().min(1, 'must not be empty'),
  displayName: nonEmpty.optional(),
  kind: z.enum(['work', 'personal']).optional(),
  tenant: nonEmpty.optional(),
  isAdmin: z.boolean().optional(),
  secondFactorCode: z.string().min(1).nullable().optional(),
  disabled: z.boolean().optional(),
  mailboxEnabled: z.boolean().optional(),
});

const revokeAccessTokens = z.boolean().optional();

export const updateUserBody = z.strictObject({
  displayName: nonEmpty.optional(),
  isAdmin: z.boolean().optional(),
  secondFactorCode: z.string().min(1).nullable().optional(),
  disabled: z.boolean().optional(),
  mailboxEnabled: z.boolean().optional(),
  conditionalAccessBlocked: z.boolean().optional(),
  mfaRequired: z.boolean().optional(),
  restrictedSender: z.boolean().optional(),
  mailboxFull: z.boolean().optional(),
});

export const passwordBody = z.strictObject({
  password: z.string().min(1, 'must not be empty'),
  by: z.enum(['admin', 'user']).optional(),
  revokeAccessTokens,
});

export const revocationBody = z.strictObject({ revokeAccessTokens });

const signInAudience = z.enum([
  'AzureADandPersonalMicrosoftAccount',
  'AzureADMultipleOrgs',
  'AzureADMyOrg',
  'PersonalMicrosoftAccount',
]);

const secretFields = {
  value: z.string().min(8, 'must be at least 8 characters').optional(),
  expiresAt: isoOrEpoch.optional(),
  expiresInSeconds: seconds.optional(),
};

export const newSecretBody = z.strictObject({ ...secretFields, replaceExisting: z.boolean().optional() });

export const createAppBody = z.strictObject({
  clientId: guid.optional(),
  displayName: nonEmpty,
  homeTenant: nonEmpty,
  signInAudience: signInAudience.optional(),
  redirectUris: z.array(redirectUri),
  publicClient: z.boolean().optional(),
  requiredScopes: z.array(scope).optional(),
  secret: z.strictObject(secretFields).optional(),
});

export const updateAppBody = z.strictObject({
  displayName: nonEmpty.optional(),
  redirectUris: z.array(redirectUri).optional(),
  signInAudience: signInAudience.optional(),
  publicClient: z.boolean().optional(),
  requiredScopes: z.array(scope).optional(),
});

export const createFaultBody = z.strictObject({
  kind: z.enum(['throttle429', 'unavailable503', 'latency', 'drop', 'timeoutAfterAccept', 'recorded', 'requestLoop']),
  target: z.enum(['graph', 'send', 'token', 'authorize', 'adminconsent']),
  recorded: z.enum(RECORDED_ERROR_NAMES).optional(),
  userId: nonEmpty.optional(),
  email: z.email('must be an email address').optional(),
  retryAfterSeconds: z.number().finite().nonnegative().max(86_400).optional(),
  latencyMs: z.number().int().nonnegative().max(600_000).optional(),
  count: count.optional(),
  probability: z.number().gt(0, 'must be above 0').max(1, 'must be at most 1').optional(),
});

const sendingLimits = z.strictObject({
  messagesPerMinute: count.optional(),
  recipientsPer24h: count.optional(),
  recipientsPerMessage: count.optional(),
});

const share = z.number().min(0, 'must be at least 0').max(1, 'must be at most 1');

/** The emulated transport's model (context.ts DeliverySettings): the junk filter and header stripping. */
const deliverySettings = z.strictObject({
  junkBase: share.optional(),
  internalBypassesJunk: z.boolean().optional(),
  reputationGain: z
    .strictObject({
      reply: share.optional(),
      rescue: share.optional(),
      flag: share.optional(),
      important: share.optional(),
      read: share.optional(),
    })
    .optional(),
  stripCustomHeaders: z.enum(['none', 'personal', 'all']).optional(),
  /** The reputation model (graph/reputation.ts). */
  reputation: z
    .strictObject({
      initial: z.strictObject({ work: share.optional(), personal: share.optional() }).optional(),
      neutral: share.optional(),
      idleAfterHours: z.number().finite().nonnegative().optional(),
      idleHalfLifeDays: z.number().finite().nonnegative().optional(),
      volumeSpikeFactor: z.number().finite().nonnegative().optional(),
      volumeHistoryDays: z.number().int().min(1).max(60).optional(),
      volumeSpikeFloor: z.number().finite().nonnegative().optional(),
      volumePenalty: share.optional(),
      engagementVolume: z.number().finite().positive().optional(),
      engagementVolumeDays: z.number().int().min(1).max(14).optional(),
      bouncePenalty: share.optional(),
      junkPenalty: share.optional(),
    })
    .optional(),
});

export const settingsBody = z.strictObject({
  accessTokenLifetimeSeconds: z.strictObject({ min: count, max: count }).optional(),
  refreshTokenInactivitySeconds: count.optional(),
  authorizationCodeLifetimeSeconds: count.optional(),
  idTokenLifetimeSeconds: count.optional(),
  requestLogLimit: count.optional(),
  limits: z
    .strictObject({
      requestsPer10Minutes: count.optional(),
      concurrentRequestsPerMailbox: count.optional(),
      exchange: sendingLimits.optional(),
      outlook: sendingLimits.optional(),
      maxRequestBytes: count.optional(),
      rejectOverLimitSends: z.boolean().optional(),
    })
    .optional(),
  delivery: deliverySettings.optional(),
  delta: z.strictObject({ changeLogLimit: count.optional(), defaultPageSize: count.optional() }).optional(),
});

const demoFields = z.strictObject({
  redirectUris: z.array(redirectUri).min(1, 'the demo app needs at least one redirect URI'),
  clientSecret: z.string().min(8, 'must be at least 8 characters').optional(),
  secretExpiresAt: isoOrEpoch.optional(),
});

export const seedDemoBody = demoFields;

export const resetBody = z.strictObject({ demo: demoFields.optional() });

// Query strings: every value arrives as a string.
const queryInt = z
  .string()
  .regex(/^\d+$/, 'must be a non-negative integer')
  .transform((value) => Number(value));
const queryBool = z.enum(['true', 'false']).transform((value) => value === 'true');

export const usersQuery = z.strictObject({
  tenant: nonEmpty.optional(),
  kind: z.enum(['work', 'personal']).optional(),
  email: nonEmpty.optional(),
});

export const approvalsQuery = z.strictObject({
  status: z.enum(['pending', 'approved', 'denied']).optional(),
  tenant: nonEmpty.optional(),
  clientId: nonEmpty.optional(),
});

export const messagesQuery = z.strictObject({
  internetMessageId: nonEmpty.optional(),
  subject: nonEmpty.optional(),
  from: nonEmpty.optional(),
  attachmentContent: queryBool.optional(),
});

export const outsideQuery = z.strictObject({
  to: nonEmpty.optional(),
  from: nonEmpty.optional(),
  internetMessageId: nonEmpty.optional(),
  subject: nonEmpty.optional(),
});

export const deliveriesQuery = z.strictObject({
  sender: nonEmpty.optional(),
  recipient: nonEmpty.optional(),
  internetMessageId: nonEmpty.optional(),
});

export const usageQuery = z.strictObject({ user: nonEmpty.optional(), clientId: nonEmpty.optional() });

export const requestsQuery = z.strictObject({
  pathPrefix: z.string().startsWith('/', 'must start with /').optional(),
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'must be an HTTP method')
    .transform((value) => value.toUpperCase())
    .optional(),
  clientId: nonEmpty.optional(),
  user: nonEmpty.optional(),
  status: queryInt.optional(),
  sinceSeq: queryInt.optional(),
  limit: queryInt.pipe(z.number().int().min(1).max(50_000)).optional(),
});

export const revocationQuery = z.strictObject({ revokeAccessTokens: queryBool.optional() });
