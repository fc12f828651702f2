import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import type { User } from '../state/model.js';
import { graphUserId } from '../state/personal-accounts.js';
import { queryOption, unknownQueryProperty } from './odata.js';
import { graphRoute, SCOPES } from './pipeline.js';

const DEFAULT_PROPERTIES = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
] as const;

/** Other user properties a client may `$select`; the emulator knows a few of them. */
const EXTRA_PROPERTIES = [
  'accountEnabled',
  'city',
  'companyName',
  'country',
  'createdDateTime',
  'department',
  'mailNickname',
  'otherMails',
  'proxyAddresses',
  'usageLocation',
  'userType',
] as const;

const SELECTABLE = new Map<string, string>(
  [...DEFAULT_PROPERTIES, ...EXTRA_PROPERTIES].map((name) => [name.toLowerCase(), name]),
);

function userProperty(user: User, name: string): unknown {
  switch (name) {
    // Personal accounts: Graph's id is the CID, not the oid, `mail` is null and the address is the UPN
    // [OBS]. @see docs/entra.md §1.6
    case 'id':
      return graphUserId(user);
    case 'displayName':
      return user.displayName;
    case 'givenName':
      return user.givenName || null;
    case 'surname':
      return user.surname || null;
    case 'mail':
      return user.kind === 'personal' ? null : user.email;
    case 'userPrincipalName':
      return user.email;
    case 'businessPhones':
    case 'otherMails':
      return [];
    case 'preferredLanguage':
      return user.kind === 'personal' ? 'en-US' : null;
    case 'accountEnabled':
      return !user.disabled;
    case 'mailNickname':
      return user.email.split('@')[0];
    case 'proxyAddresses':
      return user.kind === 'work' ? [`SMTP:${user.email}`] : [];
    case 'userType':
      return 'Member';
    case 'createdDateTime':
      return new Date(user.createdAt).toISOString().replace(/\.\d+Z$/, 'Z');
    default:
      return null;
  }
}

/** `GET /me` (User.Read): the signed-in user's profile, with `$select`. */
export function registerMeRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  graphRoute(scope, ctx, { method: 'GET', path: '', scopes: SCOPES.profile, needsMailbox: false }, (call) => {
    const selectText = queryOption(call.request.query as Record<string, unknown>, 'select');
    let names: string[] = [...DEFAULT_PROPERTIES];
    if (selectText !== undefined && selectText.trim() !== '') {
      names = selectText.split(',').map((raw) => {
        const canonical = SELECTABLE.get(raw.trim().toLowerCase());
        if (!canonical) throw unknownQueryProperty(raw.trim(), 'microsoft.graph.user');
        return canonical;
      });
    }
    const select = selectText ? `(${names.join(',')})` : '';
    const body: Record<string, unknown> = {
      '@odata.context': `${ctx.urls.graph}/v1.0/$metadata#users${select}/$entity`,
    };
    for (const name of names) body[name] = userProperty(call.user, name);
    return { status: 200, body };
  });
}
