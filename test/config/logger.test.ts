import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors/app-error.js';
import { createLogger, isSensitiveKey, redactLogLine } from '../../src/platform/logger.js';
import { Secret } from '../../src/platform/secret.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  let output = '';
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      output += String(chunk);
      callback();
    },
  });
  const logger = createLogger({ logLevel: 'trace' }, { destination });
  return { logger, lines: () => output.split('\n').filter((line) => line.length > 0) };
}

// Realistic values, each unique so a leak anywhere is found by a plain substring search.
const S = {
  bearer: 'EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z2',
  cookie: 'mb_session=s%3Acookie-value-91c2e',
  setCookie: 'mb_session=set-cookie-value-77aa; Path=/; HttpOnly',
  accessToken: 'EwA-access-token-3f9a0c7e1b',
  refreshToken: 'M.C522_BAY.0.U.-refresh-token-8d1e',
  idToken: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpZC10b2tlbiJ9.c2lnbmF0dXJl',
  code: 'M.C520_SN1.2.U.auth-code-5c4b3a29',
  codeVerifier: 'pkce-verifier-0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9',
  clientSecret: 'Qx8Q~client-secret-value~4e2a',
  password: 'correct horse battery staple 42',
  apiKey: 'mbk_live_api-key-6f1e2d3c4b5a',
  webhookSecret: 'whsec_0123456789abcdef0123456789abcdef',
  generic: 'opaque-token-value-a1b2c3',
  sealedHolder: 'plaintext-in-a-holder-77',
};

describe('createLogger redaction', () => {
  it('finds none of the secret values in realistic log lines, and keeps the evidence', () => {
    const { logger, lines } = capture();
    // An incoming request as fastify's serializer and a hand-written log would show it.
    logger.info(
      {
        req: {
          method: 'GET',
          url: `/connect/callback?code=${encodeURIComponent(S.code)}&state=st-123&session_state=abc`,
          headers: { authorization: `Bearer ${S.bearer}`, cookie: S.cookie, 'user-agent': 'Mozilla/5.0' },
        },
      },
      'incoming request',
    );
    logger.info({ res: { statusCode: 302, headers: { 'set-cookie': [S.setCookie] } } }, 'request completed');
    // A token endpoint response body, at some depth.
    logger.debug(
      {
        exchange: {
          response: {
            status: 200,
            body: {
              token_type: 'Bearer',
              scope: 'Mail.Send User.Read',
              expires_in: 3599,
              access_token: S.accessToken,
              refresh_token: S.refreshToken,
              id_token: S.idToken,
            },
          },
        },
      },
      'token exchange',
    );
    // A form body as a string (the token request) and as an object.
    logger.debug(
      {
        request: {
          body:
            `grant_type=authorization_code&client_id=5f3c&code=${encodeURIComponent(S.code)}` +
            `&code_verifier=${S.codeVerifier}&client_secret=${encodeURIComponent(S.clientSecret)}`,
        },
      },
      'token request',
    );
    logger.debug({ form: { grant_type: 'refresh_token', refreshToken: S.refreshToken, clientSecret: S.clientSecret } });
    // Camel case, kebab case, odd casing, arrays, deep nesting.
    logger.info({
      signIn: { Password: S.password, 'x-api-key': S.apiKey, webhookSecret: S.webhookSecret },
      list: [{ nested: { deeper: { evenDeeper: { token: S.generic } } } }],
      holder: PlaintextSecret.from(S.sealedHolder),
      configSecret: new Secret(S.clientSecret),
    });
    // Errors: properties copied by the err serializer, and a message quoting a body.
    const error = Object.assign(new AppError('TOKENS_REFRESH_FAILED', 'refresh failed'), {
      evidence: { status: 400, error: 'invalid_grant', error_codes: [70008], refresh_token: S.refreshToken },
    });
    logger.error({ err: error }, 'refresh failed');
    logger.warn(`upstream said {"access_token": "${S.accessToken}", "error": "none"} for Bearer ${S.bearer}`);
    logger.warn(`retrying with refresh_token=${S.refreshToken} and password=${encodeURIComponent(S.password)}`);

    const output = lines().join('\n');
    assert.equal(lines().length, 9);
    for (const [name, value] of Object.entries(S)) {
      assert.ok(!output.includes(value), `${name} leaked into the log:\n${output}`);
    }
    for (const part of [encodeURIComponent(S.code), encodeURIComponent(S.clientSecret), S.password.slice(0, 14)]) {
      assert.ok(!output.includes(part), `${part} leaked`);
    }
    // The evidence stays: error codes, the grant type, status, scopes; the OAuth state is a bearer of the flow.
    assert.match(output, /"code":"TOKENS_REFRESH_FAILED"/);
    assert.match(output, /"error":"invalid_grant"/);
    assert.match(output, /"error_codes":\[70008\]/);
    assert.match(output, /"token_type":"Bearer"/);
    assert.doesNotMatch(output, /st-123/);
    assert.match(output, /session_state=abc/);
    assert.match(output, /"scope":"Mail.Send User.Read"/);
    assert.match(output, /"user-agent":"Mozilla\/5.0"/);
    assert.match(output, /\[redacted\]/);
  });

  it('keeps error codes in a `code` key and censors an authorization code there', () => {
    const { logger, lines } = capture();
    logger.info({ graph: { code: 'ErrorInvalidRecipients' }, node: { code: 'ECONNRESET' }, aad: { code: 7000222 } });
    logger.info({ callback: { code: S.code } });
    const [first, second] = lines();
    assert.match(first!, /"code":"ErrorInvalidRecipients".*"code":"ECONNRESET".*"code":7000222/);
    assert.ok(!second!.includes(S.code));
    assert.match(second!, /"code":"\[redacted\]"/);
  });

  it('names secret keys in any spelling', () => {
    for (const key of [
      'access_token',
      'refreshToken',
      'ID-TOKEN',
      'client_secret',
      'code_verifier',
      'Authorization',
      'set-cookie',
      'api_key',
      'x-api-key',
      'password',
      'webhookSecret',
      'token',
    ]) {
      assert.ok(isSensitiveKey(key), key);
    }
    for (const key of ['token_type', 'expires_in', 'error_codes', 'tokenHash', 'scope', 'state', 'subject']) {
      assert.ok(!isSensitiveKey(key), key);
    }
  });

  it('redactLogLine censors a finished line on its own (for other sinks)', () => {
    const line = JSON.stringify({ msg: 'x', nested: { client_secret: S.clientSecret }, url: `/cb?code=${S.code}` });
    const redacted = redactLogLine(line);
    assert.ok(!redacted.includes(S.clientSecret));
    assert.ok(!redacted.includes(S.code));
    assert.doesNotThrow(() => JSON.parse(redacted));
  });
});
