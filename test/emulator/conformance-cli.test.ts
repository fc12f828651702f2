import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { DEMO_IDS } from '../../emulator/index.js';

/**
 * Issue 2: "`npm run emulator` prints its URL, the seeded app and demo users". Runs the command's entry
 * (`node --import tsx src/cli.ts emulator`, what the npm script runs) on a free port and reads what it prints.
 */

const root = new URL('../..', import.meta.url).pathname;

describe('npm run emulator', () => {
  it('prints its URL, the demo app with its secret and redirect URIs, and the demo users; then serves', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'emulator'], {
      cwd: root,
      env: {
        ...process.env,
        EMULATOR_PORT: '0',
        EMULATOR_SEED: 'cli-test',
        EMULATOR_CLIENT_SECRET: 'cli-test-secret',
        EMULATOR_REDIRECT_URIS: 'http://localhost:3999/callback',
        EMULATOR_SNAPSHOT: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('it@fabrikam.com') && child.exitCode === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
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
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  });
});
