import type {
  AutomaticRepliesStatus,
  DayOfWeek,
  DelegateMeetingMessageDeliveryOptions,
  ExternalAudienceScope,
  UserPurpose,
} from '@microsoft/microsoft-graph-types';
import { invalidValue } from './graph-error.js';
import { isPlainObject } from './message-input.js';

/**
 * The enumerated values of `mailboxSettings`, from Microsoft's published Graph schema (the types in
 * `@microsoft/microsoft-graph-types`, generated from msgraph-metadata; docs/graph.md §3.7). Typed
 * against those unions so a value Microsoft does not have cannot be written here. `dateFormat`, `timeFormat` and
 * `timeZone` are plain strings in the schema (documented examples: `M/d/yyyy`, `h:mm tt`, `Pacific Standard Time`).
 */
export const DELEGATE_MEETING_MESSAGE_DELIVERY_OPTIONS: readonly DelegateMeetingMessageDeliveryOptions[] = [
  'sendToDelegateAndInformationToPrincipal',
  'sendToDelegateAndPrincipal',
  'sendToDelegateOnly',
];
export const AUTOMATIC_REPLIES_STATUSES: readonly AutomaticRepliesStatus[] = ['disabled', 'alwaysEnabled', 'scheduled'];
export const EXTERNAL_AUDIENCE_SCOPES: readonly ExternalAudienceScope[] = ['none', 'contactsOnly', 'all'];
export const DAYS_OF_WEEK: readonly DayOfWeek[] = [
  'sunday',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
];
/** What a user's own mailbox reports as `userPurpose` (read-only). */
export const USER_MAILBOX_PURPOSE: UserPurpose = 'user';
/** Exchange's default for a mailbox nobody changed; one of the schema's values. */
export const DEFAULT_DELEGATE_MEETING_MESSAGE_DELIVERY: DelegateMeetingMessageDeliveryOptions =
  'sendToDelegateAndInformationToPrincipal';

function enumOrThrow(value: unknown, allowed: readonly string[], property: string, type: string): void {
  // [GUESS] wording: OData's conversion failure, as for any value of the wrong type.
  if (typeof value !== 'string' || !allowed.includes(value)) throw invalidValue(property, `microsoft.graph.${type}`);
}

/**
 * Checks the enumerated members of a `mailboxSettings` PATCH value (after its JSON type was checked): the answer is
 * a 400 and nothing is stored when one is not Microsoft's.
 */
export function checkSettingEnumsOrThrow(name: string, value: unknown): void {
  if (name === 'delegateMeetingMessageDeliveryOptions') {
    enumOrThrow(value, DELEGATE_MEETING_MESSAGE_DELIVERY_OPTIONS, name, 'delegateMeetingMessageDeliveryOptions');
  }
  if (!isPlainObject(value)) return;
  if (name === 'automaticRepliesSetting') {
    if (value.status !== undefined)
      enumOrThrow(value.status, AUTOMATIC_REPLIES_STATUSES, 'status', 'automaticRepliesStatus');
    if (value.externalAudience !== undefined) {
      enumOrThrow(value.externalAudience, EXTERNAL_AUDIENCE_SCOPES, 'externalAudience', 'externalAudienceScope');
    }
  }
  if (name === 'workingHours' && value.daysOfWeek !== undefined) {
    if (!Array.isArray(value.daysOfWeek)) throw invalidValue('daysOfWeek', 'Collection(microsoft.graph.dayOfWeek)');
    for (const day of value.daysOfWeek) enumOrThrow(day, DAYS_OF_WEEK, 'daysOfWeek', 'dayOfWeek');
  }
}
