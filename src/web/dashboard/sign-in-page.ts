import { html } from '../html.js';
import { csrfField, notice, renderPage } from './layout.js';

export interface SignInPageModel {
  csrfToken: string;
  email?: string | undefined;
  error?: string | undefined;
  info?: string | undefined;
  next?: string | undefined;
}

export function renderSignInPage(model: SignInPageModel): string {
  return renderPage(
    { title: 'Sign in', narrow: true },
    html`<div class="card">
  <h1>Sign in to the dashboard</h1>
  ${model.error && notice(model.error, 'error', 'sign-in-error')}
  ${model.info && notice(model.info, 'info', 'sign-in-info')}
  <form method="post" action="/dashboard/sign-in">
    ${csrfField(model.csrfToken)}
    ${model.next && html`<input type="hidden" name="next" value="${model.next}">`}
    <label for="email">Email</label>
    <input type="email" id="email" name="email" autocomplete="username" required maxlength="320" value="${model.email ?? ''}">
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="current-password" required maxlength="1024">
    <div class="actions"><button type="submit" id="sign-in">Sign in</button></div>
  </form>
  <p class="muted">The first admin is set with MAILBRIDGE_ADMIN_EMAIL and MAILBRIDGE_ADMIN_PASSWORD, or was printed once when mailbridge first started.</p>
</div>`,
  );
}
