import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/index.js';
import { freePort } from '../support/ports.js';

/**
 * Issue 2: "`npm run emulator` prints its URL, the seeded app and demo users". Runs the command's entry
 * (`node --import tsx src/cli.ts emulator`, what the npm script runs) on a free port and reads what it prints.
 */

const root = new URL('../..', import.meta.url).pathname;

/** The command as `npm run emulator -- <args>` runs it, with its output collected as it comes. */
function runCommand(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'emulator', ...args], {
    cwd: root,
    env: { ...process.env, EMULATOR_SNAPSHOT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = { child, output: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    run.output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    run.output += chunk;
  });
  return {
    get output() {
      return run.output;
    },
    /** Waits until the output shows `text` (or the command ended, or 30 s passed). */
    async waitFor(text: string): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (!run.output.includes(text) && child.exitCode === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async exit(): Promise<number | null> {
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      return child.exitCode;
    },
    async stop(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}

describe('npm run emulator', () => {
  it('prints its URL, the demo app with its secret and redirect URIs, and the demo users; then serves', async () => {
    const command = runCommand([], {
      EMULATOR_PORT: '0',
      EMULATOR_SEED: 'cli-test',
      EMULATOR_CLIENT_SECRET: 'cli-test-secret',
      EMULATOR_REDIRECT_URIS: 'http://localhost:3999/callback',
    });
    try {
      await command.waitFor('it@fabrikam.com');
      const output = command.output;
      const url = /Microsoft emulator listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      assert.ok(url, output);
      assert.match(output, new RegExp(`discovery: +${url}/common/v2\\.0/\\.well-known/openid-configuration`));
      assert.match(output, /seed: +cli-test/);
      assert.match(output, /Demo app "mailbridge \(local demo\)"/);
      assert.match(output, new RegExp(`client id: +${DEMO_IDS.clientId}`));
      assert.match(output, /client secret: +cli-test-secret \(emulator only\)/);
      assert.match(output, /redirect URIs: +http:\/\/localhost:3999\/callback/);
      assert.match(output, /Demo users \(password "demo-password"\):/);
      for (const line of [
        /alex@outlook\.com +personal/,
        /megan@contoso\.com +work/,
        /adele@contoso\.com +workWithMfa, second factor code 246810/,
        /admin@contoso\.com +workAdmin, admin/,
        /lee@fabrikam\.com +approvalRequired/,
        /it@fabrikam\.com +approvalAdmin, admin/,
      ]) {
        assert.match(output, line);
      }
      const discovery = await fetch(`${url}/${DEMO_IDS.contosoTenantId}/v2.0/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
      assert.equal(((await discovery.json()) as { issuer: string }).issuer, `${url}/${DEMO_IDS.contosoTenantId}/v2.0`);
    } finally {
      await command.stop();
    }
  });

  it('refuses a --port that is not a port, saying what is wrong', async () => {
    const command = runCommand(['--port', 'forty'], { EMULATOR_PORT: '0' });
    assert.equal(await command.exit(), 2);
    assert.match(command.output, /--port must be a port number from 0 to 65535/);
    assert.doesNotMatch(command.output, /listening/);
  });

  it("--port P --as-microsoft: an SDK routing Microsoft's hosts follows @odata.nextLink on graph.microsoft.com", async () => {
    const port = await freePort();
    const redirectUri = 'http://localhost:3999/callback';
    // EMULATOR_PORT says otherwise: --port wins.
    const command = runCommand(['--port', String(port), '--as-microsoft'], {
      EMULATOR_PORT: '0',
      EMULATOR_CLIENT_SECRET: 'cli-sdk-secret',
      EMULATOR_REDIRECT_URIS: redirectUri,
    });
    try {
      await command.waitFor('it@fabrikam.com');
      const url = `http://127.0.0.1:${port}`;
      assert.match(command.output, new RegExp(`Microsoft emulator listening on ${url}\n`), command.output);
      assert.match(command.output, /discovery: +https:\/\/login\.microsoftonline\.com\/common\/v2\.0\//);

      // What an unmodified SDK does: it only ever addresses Microsoft's hosts; its fetch sends them to the emulator.
      const microsoftHosts = [
        'https://login.microsoftonline.com',
        'https://graph.microsoft.com',
        'https://outlook.office.com',
      ];
      const routed = (target: string) => {
        const host = microsoftHosts.find((origin) => target.startsWith(`${origin}/`));
        return host ? `${url}${target.slice(host.length)}` : target;
      };
      const sdkFetch = (target: string, init?: RequestInit) => fetch(routed(target), init);

      const discovery = (await (
        await sdkFetch('https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration')
      ).json()) as { token_endpoint: string; authorization_endpoint: string; userinfo_endpoint: string };
      assert.equal(discovery.token_endpoint, 'https://login.microsoftonline.com/common/oauth2/v2.0/token');
      assert.equal(discovery.userinfo_endpoint, 'https://graph.microsoft.com/oidc/userinfo');

      const verifier = randomBytes(32).toString('base64url');
      const authorize = new URL(discovery.authorization_endpoint);
      authorize.search = new URLSearchParams({
        client_id: DEMO_IDS.clientId,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid profile offline_access Mail.ReadWrite Mail.Send',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const callback = await new SignInDriver().signIn(routed(authorize.href), {
        email: 'megan@contoso.com',
        password: DEMO_PASSWORD,
      });
      const tokens = (await (
        await sdkFetch(discovery.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            client_id: DEMO_IDS.clientId,
            client_secret: 'cli-sdk-secret',
            code: callback.params.get('code') ?? '',
            redirect_uri: redirectUri,
            code_verifier: verifier,
          }),
        })
      ).json()) as { access_token: string };
      assert.ok(tokens.access_token);
      const graph = async (target: string, init: RequestInit = {}) => {
        const response = await sdkFetch(target, {
          ...init,
          headers: {
            authorization: `Bearer ${tokens.access_token}`,
            'content-type': 'application/json',
            ...init.headers,
          },
        });
        const text = await response.text();
        return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
      };

      for (let i = 1; i <= 5; i++) {
        const sent = await graph('https://graph.microsoft.com/v1.0/me/sendMail', {
          method: 'POST',
          body: JSON.stringify({
            message: {
              subject: `page item ${i}`,
              body: { contentType: 'Text', content: 'x' },
              toRecipients: [{ emailAddress: { address: 'someone@example.org' } }],
            },
          }),
        });
        assert.equal(sent.status, 202);
      }
      // A PageIterator: take the first page, then follow @odata.nextLink as given until there is none.
      const subjects: string[] = [];
      const links: string[] = [];
      let next: string | undefined =
        'https://graph.microsoft.com/v1.0/me/mailFolders/sentitems/messages?$top=2&$select=subject';
      while (next) {
        const page = await graph(next);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        subjects.push(...(page.body.value as Array<{ subject: string }>).map((message) => message.subject));
        next = page.body['@odata.nextLink'] as string | undefined;
        if (next) links.push(next);
      }
      assert.equal(links.length, 2);
      for (const link of links) assert.match(link, /^https:\/\/graph\.microsoft\.com\/v1\.0\/me\//);
      assert.deepEqual(
        subjects.sort(),
        [1, 2, 3, 4, 5].map((i) => `page item ${i}`),
      );

      // Upload URLs name Outlook's host too.
      const draft = await graph('https://graph.microsoft.com/v1.0/me/messages', {
        method: 'POST',
        body: JSON.stringify({ subject: 'draft' }),
      });
      const session = await graph(
        `https://graph.microsoft.com/v1.0/me/messages/${String(draft.body.id)}/attachments/createUploadSession`,
        {
          method: 'POST',
          body: JSON.stringify({ AttachmentItem: { attachmentType: 'file', name: 'big.bin', size: 4 * 1024 * 1024 } }),
        },
      );
      assert.equal(session.status, 201);
      assert.match(String(session.body.uploadUrl), /^https:\/\/outlook\.office\.com\/api\/gv1\.0\//);
    } finally {
      await command.stop();
    }
  });
});
