import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import type { Mailbox, MessageRule } from '../state/model.js';
import { findFolder } from '../state/world.js';
import { GraphError, invalidValue, itemNotFound, unknownProperty } from './graph-error.js';
import { readRuleInputOrThrow } from './inbox-rules.js';
import {
  checkSettingEnumsOrThrow,
  DEFAULT_DELEGATE_MEETING_MESSAGE_DELIVERY,
  USER_MAILBOX_PURPOSE,
} from './mailbox-settings-values.js';
import { isPlainObject } from './message-input.js';
import { type GraphCall, graphRoute, jsonBodyOrThrow, SCOPES } from './pipeline.js';

/**
 * `mailboxSettings` and Inbox `messageRules` (docs/graph.md §3.1, MailboxSettings.Read / .ReadWrite).
 */

/** Writable mailboxSettings properties; PATCH answers with only these, as updated. */
const WRITABLE = [
  'automaticRepliesSetting',
  'dateFormat',
  'delegateMeetingMessageDeliveryOptions',
  'language',
  'timeFormat',
  'timeZone',
  'workingHours',
] as const;
const READ_ONLY = ['archiveFolder', 'userPurpose'] as const;
const WRITABLE_BY_LOWER = new Map<string, string>(WRITABLE.map((name) => [name.toLowerCase(), name]));
const READ_ONLY_LOWER = new Set<string>(READ_ONLY.map((name) => name.toLowerCase()));
const COMPLEX = new Set(['automaticRepliesSetting', 'language', 'workingHours']);

function settingsView(mailbox: Mailbox): Record<string, unknown> {
  return {
    archiveFolder: findFolder(mailbox, 'archive')?.id ?? null,
    timeZone: 'UTC',
    delegateMeetingMessageDeliveryOptions: DEFAULT_DELEGATE_MEETING_MESSAGE_DELIVERY,
    userPurpose: USER_MAILBOX_PURPOSE,
    ...mailbox.settings,
  };
}

function patchSettings(call: GraphCall) {
  const raw = jsonBodyOrThrow(call);
  if (!isPlainObject(raw)) throw invalidValue('mailboxSettings', 'microsoft.graph.mailboxSettings');
  const updated: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('@odata')) continue;
    const lower = key.toLowerCase();
    if (READ_ONLY_LOWER.has(lower)) {
      // [GUESS] code and wording; Graph documents these as read-only.
      throw new GraphError(400, 'ErrorInvalidRequest', `The property '${key}' is read-only and cannot be set.`);
    }
    const name = WRITABLE_BY_LOWER.get(lower);
    if (!name) throw unknownProperty(key, 'microsoft.graph.mailboxSettings');
    checkSettingEnumsOrThrow(name, value);
    if (COMPLEX.has(name)) {
      if (!isPlainObject(value)) throw invalidValue(name, `microsoft.graph.${name}`);
      const current = call.mailbox.settings[name];
      updated[name] = { ...(isPlainObject(current) ? current : {}), ...value };
    } else {
      if (typeof value !== 'string' || value.trim() === '') throw invalidValue(name, 'Edm.String');
      updated[name] = value;
    }
  }
  Object.assign(call.mailbox.settings, updated);
  return { status: 200, body: { '@odata.context': `${call.contextBase}/mailboxSettings`, ...updated } };
}

function inboxRulesOrThrow(call: GraphCall): MessageRule[] {
  const folder = findFolder(call.mailbox, call.params.folderId!);
  // Rules hang off the Inbox only (docs/graph.md §3.1).
  if (folder?.wellKnownName !== 'inbox') throw itemNotFound();
  return call.mailbox.rules;
}

function ruleOrThrow(call: GraphCall): MessageRule {
  const rule = inboxRulesOrThrow(call).find((each) => each.id === call.params.ruleId);
  if (!rule) throw itemNotFound();
  return rule;
}

function renderRule(rule: MessageRule, context?: string): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  if (context) view['@odata.context'] = context;
  Object.assign(view, {
    id: rule.id,
    displayName: rule.displayName,
    sequence: rule.sequence,
    isEnabled: rule.isEnabled,
    hasError: rule.hasError,
    isReadOnly: rule.isReadOnly,
    conditions: rule.conditions,
    actions: rule.actions,
  });
  if (Object.keys(rule.exceptions).length > 0) view.exceptions = rule.exceptions;
  return view;
}

export function registerSettingsRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  graphRoute(scope, ctx, { method: 'GET', path: '/mailboxSettings', scopes: SCOPES.settingsRead }, (call) => ({
    status: 200,
    body: { '@odata.context': `${call.contextBase}/mailboxSettings`, ...settingsView(call.mailbox) },
  }));
  graphRoute(scope, ctx, { method: 'PATCH', path: '/mailboxSettings', scopes: SCOPES.settingsWrite }, patchSettings);

  const rulesPath = '/mailFolders/:folderId/messageRules';
  const collectionContext = (call: GraphCall) => `${call.contextBase}/mailFolders('inbox')/messageRules`;
  graphRoute(scope, ctx, { method: 'GET', path: rulesPath, scopes: SCOPES.settingsRead }, (call) => ({
    status: 200,
    body: {
      '@odata.context': collectionContext(call),
      value: [...inboxRulesOrThrow(call)].sort((a, b) => a.sequence - b.sequence).map((rule) => renderRule(rule)),
    },
  }));
  graphRoute(scope, ctx, { method: 'POST', path: rulesPath, scopes: SCOPES.settingsWrite }, (call) => {
    const rules = inboxRulesOrThrow(call);
    const input = readRuleInputOrThrow(call.mailbox, jsonBodyOrThrow(call), 'create');
    const rule: MessageRule = {
      id: `AQAAA${call.ctx.random.token(6)}=`,
      displayName: input.displayName!,
      sequence: input.sequence!,
      isEnabled: input.isEnabled ?? true,
      hasError: false,
      isReadOnly: false,
      conditions: input.conditions ?? {},
      actions: input.actions ?? {},
      exceptions: input.exceptions ?? {},
    };
    rules.push(rule);
    return { status: 201, body: renderRule(rule, `${collectionContext(call)}/$entity`) };
  });
  graphRoute(scope, ctx, { method: 'GET', path: `${rulesPath}/:ruleId`, scopes: SCOPES.settingsRead }, (call) => ({
    status: 200,
    body: renderRule(ruleOrThrow(call), `${collectionContext(call)}/$entity`),
  }));
  graphRoute(scope, ctx, { method: 'PATCH', path: `${rulesPath}/:ruleId`, scopes: SCOPES.settingsWrite }, (call) => {
    const rule = ruleOrThrow(call);
    const input = readRuleInputOrThrow(call.mailbox, jsonBodyOrThrow(call), 'update');
    Object.assign(rule, input);
    return { status: 200, body: renderRule(rule, `${collectionContext(call)}/$entity`) };
  });
  graphRoute(scope, ctx, { method: 'DELETE', path: `${rulesPath}/:ruleId`, scopes: SCOPES.settingsWrite }, (call) => {
    const rules = inboxRulesOrThrow(call);
    const rule = ruleOrThrow(call);
    rules.splice(rules.indexOf(rule), 1);
    return { status: 204 };
  });
}
