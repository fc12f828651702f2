import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { EmulatorContext } from '../emulator/context.js';
import { deliverSubmission } from '../emulator/graph/delivery.js';
import { createEmulatorContext, DEMO_PASSWORD, seedDemo } from '../emulator/index.js';
import { saveSnapshot } from '../emulator/snapshot.js';
import { addUserWithNewAddress } from '../emulator/state/builders.js';
import { integerArg } from './support/args.js';
import { fixed, loadLine, machineLine, markdownTable, quantile, runBenchmark } from './support/report.js';

/**
 * What one save of the emulator's world costs (issue 10 item 3: the built-in emulator saves its world as it changes,
 * at most one save per 200 ms, or per 4× the last save's duration): `saveSnapshot` (serialise, write a temp file, fsync, rename, fsync the directory)
 * for the demo world as `npm start` seeds it, and for a large world (`--users` mailboxes with `--messages` messages
 * each, delivered as Graph sends are). The serialisation is synchronous: it is also how long the event loop stalls.
 *
 *   node --import tsx bench/snapshot-save.ts [--saves 5] [--users 1000] [--messages 10]
 *   npm run bench -- snapshot
 */

const { values: args } = parseArgs({
  options: {
    saves: { type: 'string', default: '5' },
    users: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '10' },
  },
});
const SAVES = integerArg('saves', args.saves);
const USERS = integerArg('users', args.users);
const MESSAGES = integerArg('messages', args.messages, 0);

function demoWorld(): EmulatorContext {
  const ctx = createEmulatorContext({ seed: 'bench' });
  seedDemo(ctx, { redirectUris: ['http://localhost:3000/connect/callback'], clientSecret: 'emu~bench' });
  return ctx;
}

function largeWorld(): EmulatorContext {
  const ctx = demoWorld();
  const users = Array.from({ length: USERS }, (_, i) =>
    addUserWithNewAddress(ctx, { email: `bench${i}@outlook.com`, password: DEMO_PASSWORD }),
  );
  const body = { contentType: 'text' as const, content: 'A message of about a kilobyte. '.repeat(32) };
  for (let m = 0; m < MESSAGES; m++) {
    for (const [i, sender] of users.entries()) {
      const recipient = users[(i + 1) % users.length]!;
      deliverSubmission(ctx, {
        via: 'sendMail',
        sender,
        from: { address: sender.email, name: sender.displayName },
        message: {
          subject: `Bench ${m}`,
          body,
          toRecipients: [{ emailAddress: { address: recipient.email } }],
          ccRecipients: [],
          bccRecipients: [],
          replyTo: [],
          internetMessageHeaders: [],
          attachments: [],
          importance: 'normal',
        },
        saveToSentItems: true,
      });
    }
  }
  return ctx;
}

async function measure(name: string, ctx: EmulatorContext, dir: string): Promise<string[]> {
  const file = join(dir, `${name}.json`);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < SAVES + 2; i++) {
    const started = performance.now();
    const saved = await saveSnapshot(ctx, file);
    if (i >= 2) times.push(performance.now() - started); // two warm-up saves
    bytes = saved.bytes;
  }
  const serialiseStarted = performance.now();
  JSON.stringify(ctx.world, null, 2);
  const serialiseMs = performance.now() - serialiseStarted;
  times.sort((a, b) => a - b);
  return [
    name,
    fixed(bytes / 2 ** 20, 2),
    fixed(quantile(times, 0.5), 1),
    fixed(quantile(times, 0.95), 1),
    fixed(serialiseMs, 1),
  ];
}

await runBenchmark(async () => {
  console.log(machineLine());
  console.log(loadLine('start'));
  const dir = mkdtempSync(join(tmpdir(), 'mailbridge-snapshot-bench-'));
  try {
    const rows = [await measure('demo world', demoWorld(), dir)];
    rows.push(await measure(`${USERS} mailboxes × ${MESSAGES * 2} messages`, largeWorld(), dir));
    console.log(`${SAVES} saves each (after 2 warm-up saves), on ${tmpdir()}`);
    console.log(
      markdownTable(['world', 'snapshot MB', 'save p50 ms', 'save p95 ms', 'of which serialise ms (sync)'], rows),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(loadLine('end'));
});
