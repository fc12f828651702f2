import type { AadErrorInput } from './errors.js';

/**
 * Error responses Microsoft really sent, recorded in public issues, that the emulator replays on demand through a
 * `recorded` fault (`POST /_emulator/faults {"kind":"recorded","recorded":"<name>",…}`). Each keeps Microsoft's
 * status, code and wording; the trace ids, timestamps and request ids are the emulator's own. @see issue 15, issue 9
 * item 4; emulator/README.md "Faults"
 */

export interface RecordedGraphError {
  surface: 'graph';
  status: number;
  code: string;
  message: string;
  source: string;
}

export interface RecordedIdentityError {
  /** Replayed at the token endpoint (JSON, `status`) or as a redirect from `/authorize` or `/adminconsent`. */
  surface: 'identity';
  input: AadErrorInput;
  /** HTTP status at the token endpoint; default 401 for `invalid_client`, 400 otherwise (as `sendAadError`). */
  status?: number;
  source: string;
}

export type RecordedError = RecordedGraphError | RecordedIdentityError;

export const RECORDED_ERRORS = {
  // ---- Graph ----------------------------------------------------------------------------------------------------
  /** The named-property quota of the mailbox is full; the mailbox still sends. */
  named_property_quota: {
    surface: 'graph',
    status: 403,
    code: 'ErrorQuotaExceeded',
    message: 'Cannot get ID from name.',
    source:
      '[OBS] microsoftgraph/msgraph-sdk-java#767 ("403 : Forbidden"), MicrosoftDocs/OfficeDocs-O365ServiceDescriptions#527',
  },
  /** The mailbox is over its storage quota. [GUESS] the status: the recording shows code and message only. */
  mailbox_full: {
    surface: 'graph',
    status: 403,
    code: 'ErrorQuotaExceeded',
    message: 'Mailbox has exceeded maximum mailbox size.',
    source: '[OBS] microsoftgraph/microsoft-graph-docs#2927 (code and message); status [GUESS]',
  },
  /** 507 for a full mailbox, as recorded on a message write. */
  target_mailbox_quota: {
    surface: 'graph',
    status: 507,
    code: 'QuotaExceededException',
    message: 'Target mailbox quota exceeded.',
    source: '[OBS] microsoftgraph/microsoft-graph-docs-contrib#6177',
  },
  /** An Exchange policy disables REST access to the mailbox. */
  odata_disabled: {
    surface: 'graph',
    status: 403,
    code: 'ErrorAccessDenied',
    message: 'Access to OData is disabled.',
    source: '[OBS] OfficeDev/office-js-docs-pr#2808, microsoft/MHA#49',
  },
  /** No mailbox (no licence) behind `/me/sendMail`. */
  mailbox_not_discovered: {
    surface: 'graph',
    status: 404,
    code: 'ResourceNotFound',
    message: 'Resource could not be discovered.',
    source: '[OBS] microsoftgraph/microsoft-graph-docs-contrib#6882, #4341',
  },
  /**
   * An Outlook.com sender whose sending Microsoft's consumer anti-abuse system (WASCL) blocked. The code and its
   * meaning are Microsoft's ([SRC] EWS Managed API ServiceError: "message submission blocked by WASCL for a consumer
   * mailbox"); [GUESS] the HTTP status and wording, as no public recording of the Graph body was found.
   */
  submission_blocked: {
    surface: 'graph',
    status: 403,
    code: 'ErrorMessageSubmissionBlocked',
    message: 'Cannot send mail. Message submission is blocked for this mailbox.',
    source: '[SRC] EWS Managed API ServiceError (WASCL, consumer mailboxes); status and wording [GUESS]',
  },

  // ---- identity -------------------------------------------------------------------------------------------------
  /** Conditional Access refuses the device platform; redirected as `access_denied`. */
  ca_device_platform: {
    surface: 'identity',
    input: {
      error: 'access_denied',
      code: 50005,
      description:
        'Device platform Unknown used by the user is an unsupported device platform. Supported device platforms are: iOS, Android, Mac, and Windows flavors.',
    },
    source: '[OBS] abraunegg/onedrive#16',
  },
  /** The user's organisation is an unmanaged tenant; redirected as `access_denied`. */
  unmanaged_tenant: {
    surface: 'identity',
    input: {
      error: 'access_denied',
      code: 650051,
      description:
        "Using application 'mailbridge' is currently not supported for your organization contoso.com because it is in an unmanaged state. An administrator needs to claim ownership of the company by DNS validation of contoso.com before the application mailbridge can be provisioned.",
    },
    source: '[OBS] Tai7sy/OneDriveFly#14',
  },
  /** The same 650051, redirected as `invalid_client`. */
  unmanaged_tenant_invalid_client: {
    surface: 'identity',
    input: {
      error: 'invalid_client',
      code: 650051,
      description:
        "Using application 'mailbridge' is currently not supported for your organization contoso.com because it is in an unmanaged state. An administrator needs to claim ownership of the company by DNS validation of contoso.com before the application mailbridge can be provisioned.",
    },
    source: '[OBS] skilion/onedrive#463, microsoftgraph/microsoft-graph-docs#7342',
  },
  /** A Conditional Access sign-in frequency policy ends a refresh token's life. */
  sign_in_frequency: {
    surface: 'identity',
    input: {
      error: 'invalid_grant',
      code: 70043,
      description:
        'The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2023-06-02T14:27:05.8405153Z and the maximum allowed lifetime for this request is 86400.',
      suberror: 'token_expired',
    },
    source: '[OBS] simonrob/email-oauth2-proxy#181',
  },
  /** At `/adminconsent`: the account that signed in is not of the tenant (a guest, another tenant's). */
  admin_consent_other_tenant: {
    surface: 'identity',
    input: {
      error: 'access_denied',
      code: 50020,
      description:
        "User account '{EmailHidden}' from identity provider 'https://sts.windows.net/00000000-0000-0000-0000-000000000000/' does not exist in tenant 'Contoso' and cannot access the application 'mailbridge' in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
    },
    source: '[OBS] MicrosoftDocs/azure-docs#114009',
  },
} as const satisfies Record<string, RecordedError>;

export type RecordedErrorName = keyof typeof RECORDED_ERRORS;

export const RECORDED_ERROR_NAMES = Object.keys(RECORDED_ERRORS) as [RecordedErrorName, ...RecordedErrorName[]];
