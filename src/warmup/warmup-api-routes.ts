import { findAccountForOrgOrThrow } from '../accounts/account-view.js';
import type { ApiFeature } from '../api/api-features.js';
import { accountParams } from '../http/common-schemas.js';
import { parseRequestOrThrow } from '../http/request-validation.js';
import { apiAuthOf } from '../orgs/api-auth.js';
import { putWarmupBody, WARMUP_API_OPERATIONS } from './warmup-api.js';
import { WARMUP_ERRORS } from './warmup-errors.js';
import {
  assertWarmupCapableOrThrow,
  enableWarmup,
  listWarmupPool,
  pauseWarmup,
  readWarmupAccount,
  updateWarmupSettings,
} from './warmup-store.js';

/** The API's JSON bodies are small (src/api/routes.ts); a warm-up body is a few fields. */
const BODY_LIMIT = 16 * 1024;

/**
 * Warm-up in the host API (issue 12), as a feature the composition root hands to `registerApiRoutes`: the routes run
 * in the API's authenticated scope, scoped to the key's organisation, with every input parsed before any work
 * (`REQUEST_INVALID`) and the store's own codes (warmup-errors.ts) for what the account cannot do.
 * - `GET /v1/accounts/{id}/warmup`: state and why, today's plan, next slots, 7/30-day metrics, health;
 * - `PUT /v1/accounts/{id}/warmup`: `enabled` (on / the user's pause) and `settings` (replaced as a whole);
 * - `GET /v1/warmup`: the organisation's pool.
 */
export const WARMUP_API: ApiFeature = {
  operations: WARMUP_API_OPERATIONS,
  errors: WARMUP_ERRORS,
  register(api, deps) {
    api.get('/accounts/:id/warmup', async (request) => {
      const { organizationId } = apiAuthOf(request);
      const { id } = parseRequestOrThrow(accountParams, request.params, 'path');
      const view = await readWarmupAccount(deps.db, organizationId, id, deps.clock.now());
      if (view.state.status === 'off') {
        // Never enabled: say now, not at the first PUT, that a send-only account needs reconnecting (issue 12). A
        // disconnected account is shown as it is (off); enabling it answers WARMUP_ACCOUNT_DISCONNECTED.
        const account = await findAccountForOrgOrThrow(deps.db, organizationId, id);
        if (account.status !== 'disconnected') assertWarmupCapableOrThrow(account);
      }
      return view;
    });

    api.put('/accounts/:id/warmup', { bodyLimit: BODY_LIMIT }, async (request) => {
      const { organizationId } = apiAuthOf(request);
      const { id } = parseRequestOrThrow(accountParams, request.params, 'path');
      const body = parseRequestOrThrow(putWarmupBody, request.body, 'body');
      if (body.enabled === true) return enableWarmup(deps, organizationId, id, body.settings);
      const view =
        body.settings === undefined ? undefined : await updateWarmupSettings(deps, organizationId, id, body.settings);
      return body.enabled === false ? pauseWarmup(deps, organizationId, id) : view;
    });

    api.get('/warmup', async (request) => {
      const { organizationId } = apiAuthOf(request);
      return listWarmupPool(deps.db, organizationId, deps.clock.now());
    });
  },
};
