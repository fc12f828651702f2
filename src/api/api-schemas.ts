import { z } from 'zod';
import { CONNECT_REASONS, CONNECT_STATUSES } from '../connect/connect-ends.js';
import { CONNECT_SESSION_STATES } from '../connect/connect-session-view.js';
import { HEALTH_STATUSES } from '../health/health.js';
import {
  apiComponents,
  cursorSchema,
  hasControlCharacters,
  idSchema,
  limitSchema,
  ownerIdSchema,
  timestamp,
} from '../http/common-schemas.js';
import { MAX_ALLOWED_RETURN_URLS } from '../orgs/organizations.js';
import { EMAIL_PROVIDERS } from '../owners/owners.js';

/**
 * The host API's request and response shapes, in zod: requests are parsed with them at the edge, and the OpenAPI
 * document (`openapi.ts`) is generated from them, so the document cannot drift from what the API accepts. Schemas
 * registered in `apiComponents` become `#/components/schemas/<id>`; the shared pieces are in
 * src/http/common-schemas.ts.
 */

const nullableTimestamp = z.iso.datetime().nullable();

/**
 * An address as the user signs in at Microsoft. Deliberately loose (`local@domain`, printable, ≤ 320): Microsoft
 * accepts addresses a strict RFC pattern would refuse, and the connect module checks the same rule.
 */
const emailLike = z
  .string()
  .max(320)
  .regex(/^[^\s@]+@[^\s@]+$/, { message: 'must be an email address' })
  .refine((value) => !hasControlCharacters(value), { message: 'must not contain control characters' });

// ---------------------------------------------------------------------------------------------------------------
// Connect sessions
// ---------------------------------------------------------------------------------------------------------------

export const createConnectSessionBody = z
  .strictObject({
    ownerId: ownerIdSchema,
    permissionProfile: z
      .enum(['send', 'warmup'])
      .default('send')
      .meta({
        description:
          '`send`: sign-in, profile and Mail.Send only (least privilege). `warmup`: adds Mail.ReadWrite and ' +
          'MailboxSettings.ReadWrite for warm-up.',
      }),
    returnUrl: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .meta({
        description:
          "Where the browser goes when the flow ends, with the outcome in the query. Must match the organisation's " +
          'allow-list (`PATCH /v1/organization`). Without it, the flow ends on its own outcome page.',
      }),
    loginHint: emailLike.optional().meta({
      description: 'Pre-fills the Microsoft sign-in: the address (or user principal name) the user signs in with.',
    }),
    expectedEmail: emailLike.optional().meta({
      description: 'When set, the connected mailbox must have this address, or the flow ends with a mismatch.',
    }),
  })
  .register(apiComponents, { id: 'CreateConnectSession' });

export const connectSessionSchema = z
  .object({
    id: z.string().meta({ description: 'The connect session id.' }),
    url: z.string().meta({ description: 'Send the user (their browser) here to connect a mailbox.' }),
    expiresAt: timestamp,
  })
  .register(apiComponents, { id: 'ConnectSession' });

export const connectOutcomeSchema = z
  .object({
    status: z.enum(CONNECT_STATUSES).meta({
      description:
        'The `status` the return URL carries: `connected`, `reconnected`, or why not (see the README table, ' +
        'Connect outcomes).',
    }),
    reason: z
      .enum(CONNECT_REASONS as [string, ...string[]])
      .nullable()
      .meta({
        description:
          'The `reason` the return URL carries with some statuses (e.g. `sign_in_blocked` + `mfa_required`).',
      }),
  })
  .register(apiComponents, { id: 'ConnectOutcome' });

export const connectSessionStateSchema = z
  .object({
    id: z.string(),
    ownerId: z.string(),
    permissionProfile: z.string(),
    state: z.enum(CONNECT_SESSION_STATES).meta({
      description:
        '`pending` (not finished yet), `awaiting_approval` (an IT admin must approve; the user finishes later), ' +
        '`completed`, `failed` (the user may try again until `expiresAt`), `expired`.',
    }),
    outcome: connectOutcomeSchema.nullable().meta({ description: 'How the latest attempt ended; null while pending.' }),
    accountId: z.string().nullable(),
    expiresAt: timestamp,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .register(apiComponents, { id: 'ConnectSessionState' });

export const connectSessionParams = z.strictObject({ id: idSchema('cs', 'a connect session') });

// ---------------------------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------------------------

export const accountStatusSchema = z.enum(HEALTH_STATUSES).meta({
  description:
    '`connected`; `degraded` (transient, retried); `reconnect_required` (the user must connect again); ' +
    '`admin_approval_pending`; `app_misconfigured` (the operator must fix the app registration); ' +
    '`mailbox_unusable`; `disconnected`; `unknown` (evidence not classified yet).',
});

export const remediationSchema = z
  .object({
    title: z.string(),
    user: z.string().meta({ description: 'What the end user should do, in plain words.' }),
    operator: z.string().meta({ description: 'What the operator of this service should do.' }),
  })
  .register(apiComponents, { id: 'Remediation' });

export const accountSchema = z
  .object({
    id: z.string(),
    ownerId: z.string(),
    provider: z.literal('microsoft'),
    email: z.string(),
    displayName: z.string().nullable(),
    tenantId: z.string().meta({ description: "Microsoft's tenant id (`tid`)." }),
    permissionProfile: z.string(),
    scopes: z.array(z.string()).meta({ description: 'The scopes Microsoft granted.' }),
    status: accountStatusSchema,
    reason: z.string().nullable().meta({ description: 'Why the account has this status (null when connected).' }),
    remediation: remediationSchema,
    evidence: z.record(z.string(), z.unknown()).nullable().meta({
      description:
        "Microsoft's structured answer behind a failing status (error, error codes, Graph code, trace and request ids).",
    }),
    connectedAt: timestamp,
    lastRefreshedAt: nullableTimestamp,
    accessTokenExpiresAt: nullableTimestamp,
    expiresIfUnusedBy: nullableTimestamp.meta({
      description:
        'The refresh token dies if unused until then (Microsoft: 90 days of inactivity); the keep-alive refreshes ' +
        'well before. Null without a token.',
    }),
    statusChangedAt: timestamp,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .register(apiComponents, { id: 'Account' });

export const accountListSchema = z
  .object({
    data: z.array(accountSchema),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last.' }),
  })
  .register(apiComponents, { id: 'AccountList' });

export const listAccountsQuery = z.strictObject({
  ownerId: ownerIdSchema.optional(),
  status: accountStatusSchema.optional(),
  after: cursorSchema('accounts').optional(),
  limit: limitSchema,
});

// ---------------------------------------------------------------------------------------------------------------
// Owners
// ---------------------------------------------------------------------------------------------------------------

export const setEmailProviderBody = z
  .strictObject({
    provider: z.enum(EMAIL_PROVIDERS).meta({
      description:
        '`microsoft` = "Personal Outlook": mail goes out from the owner\'s connected Microsoft mailbox. `default` = ' +
        "the operator's SMTP relay.",
    }),
  })
  .register(apiComponents, { id: 'SetEmailProvider' });

export const ownerEmailProviderSchema = z
  .object({ ownerId: z.string(), emailProvider: z.enum(EMAIL_PROVIDERS) })
  .register(apiComponents, { id: 'OwnerEmailProvider' });

export const ownerSchema = z
  .object({
    ownerId: z.string(),
    emailProvider: z.enum(EMAIL_PROVIDERS),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .register(apiComponents, { id: 'Owner' });

// ---------------------------------------------------------------------------------------------------------------
// Organisation
// ---------------------------------------------------------------------------------------------------------------

export const organizationSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    allowedReturnUrls: z.array(z.string()).meta({
      description:
        'URL prefixes a connect session may return to: same origin, and a path that starts with the entry at a ' +
        'segment boundary.',
    }),
    createdAt: timestamp,
  })
  .register(apiComponents, { id: 'Organization' });

export const updateOrganizationBody = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    allowedReturnUrls: z
      .array(z.string().min(1).max(2048))
      .max(MAX_ALLOWED_RETURN_URLS)
      .optional()
      .meta({
        description:
          'Replaces the allow-list. Each entry: an absolute https URL (http only for localhost, 127.0.0.1, [::1]), ' +
          'origin and optional path, no query or fragment.',
      }),
  })
  .refine((body) => body.name !== undefined || body.allowedReturnUrls !== undefined, {
    message: 'send at least one of name, allowedReturnUrls',
  })
  .register(apiComponents, { id: 'UpdateOrganization' });
