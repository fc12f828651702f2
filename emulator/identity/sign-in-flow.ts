import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { recordedErrorOf, takeFault } from '../faults.js';
import type { AdminApprovalRequest, AppRegistration, BrowserSessionAccount, SignInFlow, User } from '../state/model.js';
import { digest, findUserByEmail, resolveTenantSegment, type TenantSegment } from '../state/world.js';
import { aadsts } from './aadsts.js';
import {
  findBrowserSession,
  liveAccounts,
  recordSecondFactor,
  rememberSignIn,
  secondFactorSatisfied,
} from './browser-session.js';
import { endFlow, findFlow } from './flows.js';
import {
  accountPickerPage,
  adminRequiredPage,
  approvalPage,
  approvalSentPage,
  consentPage,
  type FormTarget,
  type PageError,
  secondFactorPage,
  signInPage,
} from './pages.js';
import { canonicalSegment, decideConsent, refuseUser, userTenant } from './policy.js';
import { field, redirectError, redirectToApp, sendErrorPage, sendHtml } from './respond.js';
import { consentLines, fullScopeNames, unionScopes } from './scopes.js';

/**
 * The interactive part of `/authorize` and of the admin consent endpoints: sign-in (or a remembered browser
 * session), account picker, second factor, consent or "Need admin approval", then the redirect back to the app.
 * Each page posts back with the flow id; the flow's `step` says which answers are expected next.
 */

interface FlowRun {
  ctx: EmulatorContext;
  request: FastifyRequest;
  reply: FastifyReply;
  flow: SignInFlow;
  /** The opaque id the pages carry. */
  flowId: string;
  app: AppRegistration;
  segment: TenantSegment;
}

function formTarget(run: FlowRun): FormTarget {
  const segment = encodeURIComponent(run.flow.tenantSegment);
  const path =
    run.flow.kind === 'authorize'
      ? `/${segment}/oauth2/v2.0/authorize`
      : run.flow.kind === 'adminConsent'
        ? `/${segment}/v2.0/adminconsent`
        : `/${segment}/adminconsent`;
  return { action: path, flow: run.flowId };
}

function setActor(run: FlowRun): void {
  run.request.emulatorActor = { clientId: run.flow.clientId, userId: run.flow.userId };
}

function redirectTarget(flow: SignInFlow) {
  return { redirectUri: flow.redirectUri, responseMode: flow.responseMode };
}

/** Candidate accounts from the browser session that may use this app through this endpoint. */
function sessionCandidates(run: FlowRun): Array<{ account: BrowserSessionAccount; user: User }> {
  return liveAccounts(run.ctx, findBrowserSession(run.ctx, run.request)).filter(
    ({ user }) => !refuseUser(run.ctx, run.segment, run.app, user),
  );
}

// --- entry points ------------------------------------------------------------------------------------------------

/** Runs a freshly validated flow: silent answer, remembered account, picker or sign-in page. */
export async function startFlow(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  started: { flow: SignInFlow; flowId: string; app: AppRegistration; segment: TenantSegment },
) {
  const run: FlowRun = { ctx, request, reply, ...started };
  setActor(run);
  const { flow } = run;
  const candidates = sessionCandidates(run);
  const hint = flow.loginHint?.trim().toLowerCase() ?? null;
  const hinted = hint ? candidates.find(({ user }) => user.email === hint) : undefined;

  if (flow.prompt === 'none') {
    const target = redirectTarget(flow);
    const pick = hint ? hinted : candidates.length === 1 ? candidates[0] : undefined;
    if (!pick) {
      const input = !hint && candidates.length > 1 ? aadsts.multipleAccounts() : aadsts.loginRequired();
      endFlow(ctx, flow);
      return redirectError(ctx, reply, target, input, { state: flow.state });
    }
    flow.userId = pick.user.id;
    flow.sessionId = pick.account.sid;
    setActor(run);
    if (!secondFactorSatisfied(pick.user, pick.account)) {
      endFlow(ctx, flow);
      return redirectError(ctx, reply, target, aadsts.mfaRequiredInteractive(), { state: flow.state });
    }
    if (decideConsent(ctx, pick.user, run.app, flow.scopes, null).kind !== 'granted') {
      endFlow(ctx, flow);
      return redirectError(ctx, reply, target, aadsts.consentRequiredInteractive(run.app), { state: flow.state });
    }
    return completeAuthorize(run, pick.user);
  }
  if (flow.prompt === 'login') return showSignIn(run, { email: flow.loginHint });
  if (flow.prompt === 'select_account') {
    return candidates.length > 0 ? showPicker(run, candidates) : showSignIn(run, { email: flow.loginHint });
  }
  if (hint) return hinted ? continueWithSessionAccount(run, hinted) : showSignIn(run, { email: flow.loginHint });
  if (candidates.length === 1) return continueWithSessionAccount(run, candidates[0]!);
  if (candidates.length > 1) return showPicker(run, candidates);
  return showSignIn(run, { email: null });
}

/** A page's form submission: dispatches on the flow's step and the pressed button. */
export async function handleFlowSubmission(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
) {
  const flowId = field(body, 'flow') ?? '';
  const flow = flowId ? findFlow(ctx, flowId) : undefined;
  if (!flow) return sendErrorPage(ctx, reply, aadsts.flowExpired());
  const app = ctx.world.apps[flow.clientId];
  const segment = resolveTenantSegment(ctx.world, flow.tenantSegment);
  if (!app) {
    endFlow(ctx, flow);
    return sendErrorPage(ctx, reply, aadsts.appNotFound(flow.clientId, flow.tenantSegment));
  }
  if (!segment) {
    endFlow(ctx, flow);
    return sendErrorPage(ctx, reply, aadsts.tenantNotFound(flow.tenantSegment));
  }
  const run: FlowRun = { ctx, request, reply, flow, flowId, app, segment };
  setActor(run);
  const action = field(body, 'action') ?? '';
  if (action === 'use-another') return startOver(run);
  switch (flow.step) {
    case 'signIn':
      if (action === 'sign-in') return submitPassword(run, body);
      break;
    case 'pickAccount':
      if (action === 'pick') return submitPick(run, field(body, 'account') ?? '');
      break;
    case 'secondFactor':
      if (action === 'second-factor') return submitSecondFactor(run, field(body, 'otc') ?? '');
      break;
    case 'consent':
      if (action === 'accept') return submitAccept(run, field(body, 'consent_org') === '1');
      if (action === 'cancel') return submitCancel(run);
      break;
    case 'approval':
      if (action === 'request-approval') return submitApprovalRequest(run, field(body, 'justification') ?? '');
      if (action === 'back') return backFromApproval(run);
      break;
    case 'approvalSent':
      if (action === 'back') return backFromApproval(run);
      break;
    case 'adminRequired':
      if (action === 'back') return backFromAdminRequired(run);
      break;
    case 'done':
      return sendErrorPage(ctx, reply, aadsts.flowExpired());
  }
  // A stale page (the back button, a double submit): show the page the flow is really on.
  return renderStep(run);
}

// --- pages -------------------------------------------------------------------------------------------------------

function showSignIn(run: FlowRun, options: { email: string | null; error?: PageError }, status = 200) {
  run.flow.step = 'signIn';
  run.flow.userId = null;
  run.flow.sessionId = null;
  const html = signInPage(formTarget(run), { appName: run.app.displayName, ...options });
  return sendHtml(run.reply, status, html);
}

function showPicker(run: FlowRun, candidates: Array<{ user: User }>) {
  run.flow.step = 'pickAccount';
  const accounts = candidates.map(({ user }) => ({
    userId: user.id,
    email: user.email,
    displayName: user.displayName,
  }));
  return sendHtml(run.reply, 200, accountPickerPage(formTarget(run), { appName: run.app.displayName, accounts }));
}

function showSecondFactor(run: FlowRun, user: User, error?: PageError) {
  run.flow.step = 'secondFactor';
  return sendHtml(run.reply, error ? 400 : 200, secondFactorPage(formTarget(run), { email: user.email, error }));
}

function renderStep(run: FlowRun) {
  const user = run.flow.userId ? run.ctx.world.users[run.flow.userId] : undefined;
  switch (run.flow.step) {
    case 'pickAccount':
      return showPicker(run, sessionCandidates(run));
    case 'secondFactor':
      return user ? showSecondFactor(run, user) : showSignIn(run, { email: null });
    case 'consent':
    case 'approval':
    case 'adminRequired':
      return user ? afterAuthentication(run, user) : showSignIn(run, { email: null });
    case 'approvalSent':
      return sendHtml(run.reply, 200, approvalSentPage(formTarget(run), { appName: run.app.displayName }));
    default:
      return showSignIn(run, { email: run.flow.loginHint });
  }
}

function startOver(run: FlowRun) {
  return showSignIn(run, { email: null });
}

// --- authentication ----------------------------------------------------------------------------------------------

function continueWithSessionAccount(run: FlowRun, picked: { account: BrowserSessionAccount; user: User }) {
  run.flow.userId = picked.user.id;
  run.flow.sessionId = picked.account.sid;
  setActor(run);
  if (!secondFactorSatisfied(picked.user, picked.account)) return showSecondFactor(run, picked.user);
  return afterAuthentication(run, picked.user);
}

function submitPick(run: FlowRun, userId: string) {
  if (!userId) return showSignIn(run, { email: null });
  const picked = sessionCandidates(run).find(({ user }) => user.id === userId);
  return picked ? continueWithSessionAccount(run, picked) : showSignIn(run, { email: null });
}

function submitPassword(run: FlowRun, body: unknown) {
  const { ctx } = run;
  const email = (field(body, 'login') ?? '').trim();
  const password = field(body, 'passwd') ?? '';
  const user = email ? findUserByEmail(ctx.world, email) : undefined;
  if (!user) {
    return showSignIn(
      run,
      {
        email,
        error: {
          message:
            'This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin or get a new account.',
          code: 50034,
        },
      },
      400,
    );
  }
  const refusal = refuseUser(ctx, run.segment, run.app, user);
  if (refusal?.show === 'signIn') {
    return showSignIn(run, { email, error: { message: refusal.message, code: refusal.code } }, 400);
  }
  if (refusal?.show === 'errorPage') {
    run.flow.step = 'signIn';
    return sendErrorPage(ctx, run.reply, refusal.input, { retry: formTarget(run) });
  }
  if (password !== user.password) {
    // Microsoft's wording for a wrong password (AADSTS50126); the page stays, nothing goes to the app.
    return showSignIn(
      run,
      {
        email,
        error: {
          message: "Your account or password is incorrect. If you don't remember your password, reset it now.",
          code: 50126,
        },
      },
      400,
    );
  }
  if (user.disabled) {
    return showSignIn(
      run,
      {
        email,
        error: {
          message:
            'Your account has been locked. Contact your support person to unlock it, then try again. (AADSTS50057: The user account is disabled.)',
          code: 50057,
        },
      },
      400,
    );
  }
  run.flow.userId = user.id;
  run.flow.sessionId = null;
  setActor(run);
  // The password is right; with a second factor the session is only established once that passes too.
  if (user.secondFactorCode) return showSecondFactor(run, user);
  const account = rememberSignIn(ctx, run.request, run.reply, user, { secondFactor: false });
  run.flow.sessionId = account.sid;
  return afterAuthentication(run, user);
}

function submitSecondFactor(run: FlowRun, code: string) {
  const { ctx } = run;
  const user = run.flow.userId ? ctx.world.users[run.flow.userId] : undefined;
  if (!user) return showSignIn(run, { email: null });
  if (user.secondFactorCode && code.trim() !== user.secondFactorCode) {
    return showSecondFactor(run, user, {
      message: "You didn't enter the expected verification code. Please try again.",
    });
  }
  if (run.flow.sessionId === null) {
    run.flow.sessionId = rememberSignIn(ctx, run.request, run.reply, user, { secondFactor: true }).sid;
  } else {
    recordSecondFactor(ctx, run.request, user.id);
  }
  return afterAuthentication(run, user);
}

// --- after sign-in: consent, approval, redirect ------------------------------------------------------------------

function afterAuthentication(run: FlowRun, user: User) {
  const { ctx, flow, app } = run;
  if (user.disabled) {
    return showSignIn(
      run,
      { email: user.email, error: { message: 'The user account is disabled.', code: 50057 } },
      400,
    );
  }
  // An injected recorded refusal (Conditional Access, an unmanaged tenant, a foreign account at /adminconsent):
  // Microsoft evaluates these once it knows the user, then redirects the error to the app.
  const fault = takeFault(ctx, flow.kind === 'authorize' ? 'authorize' : 'adminconsent', user.id);
  const recorded = fault ? recordedErrorOf(fault) : undefined;
  if (fault && recorded?.surface === 'identity') {
    run.request.emulatorNote = 'fault:recorded';
    endFlow(ctx, flow);
    return redirectError(ctx, run.reply, redirectTarget(flow), recorded.input, {
      state: flow.state,
      adminConsent: flow.kind !== 'authorize',
    });
  }
  if (flow.kind !== 'authorize') {
    if (user.kind === 'personal') {
      endFlow(ctx, flow);
      return redirectError(ctx, run.reply, redirectTarget(flow), aadsts.personalAccountAdminConsent(), {
        state: flow.state,
        adminConsent: true,
      });
    }
    const tenant = userTenant(ctx, user);
    if (!user.isAdmin || !tenant) {
      flow.step = 'adminRequired';
      const html = adminRequiredPage(formTarget(run), {
        appName: app.displayName,
        email: user.email,
        tenantName: tenant?.displayName ?? 'your organization',
      });
      return sendHtml(run.reply, 200, html);
    }
    flow.step = 'consent';
    const html = consentPage(formTarget(run), {
      appName: app.displayName,
      email: user.email,
      lines: consentLines(flow.scopes),
      offerOrganization: false,
      forOrganization: tenant.displayName,
    });
    return sendHtml(run.reply, 200, html);
  }
  const decision = decideConsent(ctx, user, app, flow.scopes, flow.prompt);
  if (decision.kind === 'granted') return completeAuthorize(run, user);
  if (decision.kind === 'consent') {
    flow.step = 'consent';
    const html = consentPage(formTarget(run), {
      appName: app.displayName,
      email: user.email,
      lines: consentLines(flow.scopes),
      offerOrganization: decision.offerOrganization,
    });
    return sendHtml(run.reply, 200, html);
  }
  flow.step = 'approval';
  const html = approvalPage(formTarget(run), {
    appName: app.displayName,
    clientId: app.clientId,
    email: user.email,
    workflow: decision.workflow,
    code: decision.input.code,
  });
  return sendHtml(run.reply, 200, html);
}

function signedInUser(run: FlowRun): User | undefined {
  return run.flow.userId ? run.ctx.world.users[run.flow.userId] : undefined;
}

function submitAccept(run: FlowRun, forOrganization: boolean) {
  const { ctx, flow, app } = run;
  const user = signedInUser(run);
  if (!user) return showSignIn(run, { email: null });
  const tenant = userTenant(ctx, user);
  if (flow.kind !== 'authorize') {
    if (!tenant || !user.isAdmin) return afterAuthentication(run, user);
    grantTenantWide(run, tenant.id, flow.scopes);
    endFlow(ctx, flow);
    const fields: Array<[string, string]> = [
      ['admin_consent', 'True'],
      ['tenant', tenant.id],
    ];
    if (flow.kind === 'adminConsent') fields.push(['scope', fullScopeNames(flow.scopes).join(' ')]);
    if (flow.state !== null) fields.push(['state', flow.state]);
    return redirectToApp(ctx, run.reply, redirectTarget(flow), fields);
  }
  const decision = decideConsent(ctx, user, app, flow.scopes, flow.prompt);
  if (decision.kind === 'approval') return afterAuthentication(run, user);
  const key = `${user.id}|${app.clientId}`;
  const existing = ctx.world.consents[key];
  ctx.world.consents[key] = {
    userId: user.id,
    clientId: app.clientId,
    scopes: unionScopes(existing?.scopes ?? [], flow.scopes),
    grantedAt: existing?.grantedAt ?? ctx.clock.now(),
  };
  if (forOrganization && decision.kind === 'consent' && decision.offerOrganization && tenant) {
    grantTenantWide(run, tenant.id, flow.scopes);
  }
  return completeAuthorize(run, user);
}

/** An admin's tenant-wide consent; pending approval requests it now covers are approved with it. */
function grantTenantWide(run: FlowRun, tenantId: string, scopes: string[]): void {
  const tenant = run.ctx.world.tenants[tenantId];
  if (!tenant) return;
  const granted = unionScopes(tenant.adminConsents[run.app.clientId] ?? [], scopes);
  tenant.adminConsents[run.app.clientId] = granted;
  const covered = new Set(granted.map((scope) => scope.toLowerCase()));
  for (const request of Object.values(run.ctx.world.adminApprovalRequests)) {
    if (request.status !== 'pending' || request.tenantId !== tenantId || request.clientId !== run.app.clientId) {
      continue;
    }
    const oidc = new Set(['openid', 'profile', 'email', 'offline_access']);
    if (request.scopes.every((scope) => covered.has(scope.toLowerCase()) || oidc.has(scope.toLowerCase()))) {
      request.status = 'approved';
    }
  }
}

function submitCancel(run: FlowRun) {
  const { ctx, flow } = run;
  endFlow(ctx, flow);
  const input = flow.kind === 'authorize' ? aadsts.userCancelled() : aadsts.adminConsentDeclined();
  // [OBS] a user backing out: `error=access_denied&error_subcode=cancel` (docs/entra.md §1.3).
  return redirectError(ctx, run.reply, redirectTarget(flow), input, {
    state: flow.state,
    errorSubcode: 'cancel',
    adminConsent: flow.kind !== 'authorize',
  });
}

function submitApprovalRequest(run: FlowRun, justification: string) {
  const { ctx, flow, app } = run;
  const user = signedInUser(run);
  const tenant = user ? userTenant(ctx, user) : undefined;
  if (!user || !tenant?.adminConsentWorkflow) return renderStep(run);
  const text = justification.trim().slice(0, 1000);
  const pending = Object.values(ctx.world.adminApprovalRequests).find(
    (request) =>
      request.status === 'pending' &&
      request.tenantId === tenant.id &&
      request.clientId === app.clientId &&
      request.userId === user.id,
  );
  if (pending) {
    pending.scopes = unionScopes(pending.scopes, flow.scopes);
    pending.justification = text;
  } else {
    const request: AdminApprovalRequest = {
      id: ctx.random.guid(),
      tenantId: tenant.id,
      clientId: app.clientId,
      userId: user.id,
      scopes: [...flow.scopes],
      justification: text,
      createdAt: ctx.clock.now(),
      status: 'pending',
    };
    ctx.world.adminApprovalRequests[request.id] = request;
  }
  flow.step = 'approvalSent';
  return sendHtml(run.reply, 200, approvalSentPage(formTarget(run), { appName: app.displayName }));
}

function backFromApproval(run: FlowRun) {
  const { ctx, flow, app } = run;
  const user = signedInUser(run);
  let input = aadsts.adminApprovalRequested(app);
  if (flow.step === 'approval' && user) {
    const decision = decideConsent(ctx, user, app, flow.scopes, flow.prompt);
    const tenant = userTenant(ctx, user);
    if (decision.kind === 'approval') input = decision.input;
    else if (tenant) input = aadsts.adminConsentRequired(app, tenant);
  }
  endFlow(ctx, flow);
  return redirectError(ctx, run.reply, redirectTarget(flow), input, { state: flow.state });
}

function backFromAdminRequired(run: FlowRun) {
  const { ctx, flow, app } = run;
  const user = signedInUser(run);
  const tenant = user ? userTenant(ctx, user) : undefined;
  endFlow(ctx, flow);
  const input = tenant ? aadsts.notAnAdmin(app, tenant) : aadsts.adminConsentDeclined();
  return redirectError(ctx, run.reply, redirectTarget(flow), input, { state: flow.state, adminConsent: true });
}

/** Issues the authorization code and sends the browser back: `code`, `state`, `session_state`. */
function completeAuthorize(run: FlowRun, user: User) {
  const { ctx, flow } = run;
  const now = ctx.clock.now();
  const code = user.kind === 'personal' ? `M.C5${ctx.random.token(48)}` : `0.A${ctx.random.token(64)}`;
  const sessionId = flow.sessionId ?? ctx.random.guid();
  pruneCodes(ctx, now);
  const codeHash = digest(code);
  ctx.world.codes[codeHash] = {
    codeHash,
    clientId: flow.clientId,
    redirectUri: flow.redirectUri,
    userId: user.id,
    scopes: [...flow.scopes],
    nonce: flow.nonce,
    codeChallenge: flow.codeChallenge,
    codeChallengeMethod: flow.codeChallengeMethod,
    tenantSegment: canonicalSegment(run.segment),
    issuedAt: now,
    expiresAt: now + ctx.settings.authorizationCodeLifetimeSeconds * 1000,
    redeemed: false,
    sessionId,
  };
  flow.step = 'done';
  endFlow(ctx, flow);
  const fields: Array<[string, string]> = [['code', code]];
  if (flow.state !== null) fields.push(['state', flow.state]);
  fields.push(['session_state', sessionId]);
  return redirectToApp(ctx, run.reply, redirectTarget(flow), fields);
}

/** Forgets codes a day past their expiry (long enough to keep answering 54005 for a replayed code). */
function pruneCodes(ctx: EmulatorContext, now: number): void {
  for (const [hash, code] of Object.entries(ctx.world.codes)) {
    if (code.expiresAt + 86400_000 < now) delete ctx.world.codes[hash];
  }
}
