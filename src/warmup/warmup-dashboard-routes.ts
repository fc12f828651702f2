import type { FastifyReply, FastifyRequest } from 'fastify';
import { findAccountForOrgOrThrow, listAccounts, toAccountView } from '../accounts/account-view.js';
import { AppError } from '../errors/app-error.js';
import type { PageNotice } from '../web/dashboard/accounts-pages.js';
import { type DashboardPageGroup, sendHtml } from '../web/dashboard/dashboard-context.js';
import { formField } from '../web/dashboard/form-fields.js';
import { renderWarmupAccountPage, renderWarmupPoolPage, type SettingsValues } from './warmup-dashboard-pages.js';
import { WARMUP_ERRORS } from './warmup-errors.js';
import type { SettingsIssue } from './warmup-settings.js';
import {
  assertWarmupCapableOrThrow,
  enableWarmup,
  listWarmupPool,
  pauseWarmup,
  readWarmupAccount,
  readWarmupActivity,
  readWarmupDailySeries,
  updateWarmupSettings,
} from './warmup-store.js';

/** The charts' span (docs/warmup.md §F's longer window). */
const CHART_DAYS = 30;
const ACTIVITY_LIMIT = 50;
const OTHER_ACCOUNTS_LIMIT = 200;

const DONE: Readonly<Record<string, PageNotice>> = {
  enabled: {
    kind: 'info',
    text: 'Warm-up is on.',
    detail: 'Its first messages are planned at the engine’s next run and sent in the mailbox’s working hours.',
  },
  paused: {
    kind: 'info',
    text: 'Warm-up is paused.',
    detail: 'Nothing is sent or read for warm-up until you resume it.',
  },
  saved: { kind: 'info', text: 'Settings saved.' },
};

/**
 * The dashboard's warm-up pages (issue 12), a page group (dashboard-context.ts) that the composition root hands to
 * the dashboard, so its session hook, form tokens and HTML error pages apply:
 * - `GET /dashboard/warmup`: the organisation's pool, and its other mailboxes;
 * - `GET /dashboard/accounts/:id/warmup`: the account's Warm-up section;
 * - `POST …/warmup/enable` (with the settings form the first time), `POST …/warmup/pause`, `POST …/warmup/settings`.
 * A refused form comes back with what was typed and each problem next to its field; another organisation's account
 * is "Not found", as everywhere in the dashboard.
 */
export const registerWarmupPages: DashboardPageGroup = (scope, deps, contextOf) => {
  scope.get('/warmup', async (request, reply) => {
    const { signedIn, organizationId } = contextOf(request);
    const now = deps.clock.now();
    const pool = await listWarmupPool(deps.db, organizationId, now);
    const members = new Set(pool.members.map((member) => member.accountId));
    const accounts = await listAccounts(deps.db, organizationId, { limit: OTHER_ACCOUNTS_LIMIT });
    const others = accounts.data
      .filter((row) => !members.has(row.id) && row.status !== 'disconnected')
      .map((row) => toAccountView(row, now));
    return sendHtml(reply, renderWarmupPoolPage({ signedIn, pool, others }));
  });

  scope.get('/accounts/:id/warmup', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    return sendHtml(reply, await accountPage(request, { notice: DONE[query['done'] ?? ''] }));
  });

  scope.post('/accounts/:id/warmup/enable', async (request, reply) =>
    submit(request, reply, 'enabled', (organizationId, id) =>
      enableWarmup(deps, organizationId, id, formField(request, 'settings') === '1' ? optionsOf(request) : undefined),
    ),
  );

  scope.post('/accounts/:id/warmup/pause', async (request, reply) =>
    submit(request, reply, 'paused', (organizationId, id) => pauseWarmup(deps, organizationId, id)),
  );

  scope.post('/accounts/:id/warmup/settings', async (request, reply) =>
    submit(request, reply, 'saved', (organizationId, id) =>
      updateWarmupSettings(deps, organizationId, id, optionsOf(request)),
    ),
  );

  /** Runs a change; on success back to the page (303, so a reload does not post again), else the page with why. */
  async function submit(
    request: FastifyRequest,
    reply: FastifyReply,
    done: keyof typeof DONE,
    change: (organizationId: string, accountId: string) => Promise<unknown>,
  ): Promise<FastifyReply> {
    const { organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    try {
      await change(organizationId, id);
    } catch (error) {
      if (!(error instanceof AppError) || !(error.code in WARMUP_ERRORS)) throw error;
      const issues = (error.details?.['issues'] ?? []) as SettingsIssue[];
      const refused = error.code === 'WARMUP_SETTINGS_INVALID' ? { values: valuesOf(request), issues } : undefined;
      const page = await accountPage(request, {
        notice: { kind: 'error', text: error.message },
        form: refused,
      });
      return sendHtml(reply, page, error.status);
    }
    return reply.redirect(`/dashboard/accounts/${encodeURIComponent(id)}/warmup?done=${done}`, 303);
  }

  async function accountPage(
    request: FastifyRequest,
    extra: {
      notice?: PageNotice | undefined;
      form?: { values: SettingsValues; issues: readonly SettingsIssue[] } | undefined;
    },
  ): Promise<string> {
    const { signedIn, organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    const now = deps.clock.now();
    const row = await findAccountForOrgOrThrow(deps.db, organizationId, id);
    const view = await readWarmupAccount(deps.db, organizationId, id, now);
    const refusal = view.state.status === 'off' ? refusalOf(row) : undefined;
    const started = view.state.status !== 'off';
    return renderWarmupAccountPage({
      signedIn,
      account: toAccountView(row, now),
      view,
      refusal,
      series: started ? await readWarmupDailySeries(deps.db, organizationId, id, { days: CHART_DAYS, now }) : [],
      activity: started ? await readWarmupActivity(deps.db, organizationId, id, ACTIVITY_LIMIT) : [],
      notice: extra.notice,
      form: extra.form,
    });
  }
};

/** Why warm-up cannot be enabled for an account that never had it (the store's own check), or undefined. */
function refusalOf(
  row: Parameters<typeof assertWarmupCapableOrThrow>[0],
): { code: string; message: string } | undefined {
  try {
    assertWarmupCapableOrThrow(row);
    return undefined;
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, message: error.message };
    throw error;
  }
}

/** The form as typed, to show it again when it is refused. */
function valuesOf(request: FastifyRequest): SettingsValues {
  return {
    dailyCeiling: (formField(request, 'dailyCeiling') ?? '').slice(0, 20),
    replyRate: (formField(request, 'replyRate') ?? '').slice(0, 20),
    timeZone: (formField(request, 'timeZone') ?? '').slice(0, 200),
    weekends: formField(request, 'weekends') === 'on',
    receiveOnly: formField(request, 'receiveOnly') === 'on',
  };
}

/**
 * The user's options from the form, for the store's validation (warmup-settings.ts): an empty field is "the
 * default"; a number field's text becomes a number when it is one, and stays text otherwise, so that the validator
 * names the field instead of the form guessing; a checkbox is on when sent.
 */
function optionsOf(request: FastifyRequest): Record<string, unknown> {
  const values = valuesOf(request);
  const numberOf = (text: string) => (/^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text);
  return {
    ...(values.dailyCeiling.trim() === '' ? {} : { dailyCeiling: numberOf(values.dailyCeiling) }),
    ...(values.replyRate.trim() === '' ? {} : { replyRate: numberOf(values.replyRate) }),
    ...(values.timeZone.trim() === '' ? {} : { timeZone: values.timeZone.trim() }),
    weekends: values.weekends,
    receiveOnly: values.receiveOnly,
  };
}
