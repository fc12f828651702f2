import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { EmulatorClock } from './clock.js';
import {
  defaultSettings,
  type EmulatorContext,
  type EmulatorSettings,
  type EmulatorUrls,
  type FaultRule,
  type MailboxUsage,
} from './context.js';
import { EmulatorRandom } from './random.js';
import type { WorldState } from './state/model.js';

/**
 * Snapshots: the whole emulated world (and whatever other modules keep in it, such as signing keys), the clock,
 * the random sequence's seed and position, the settings, the injected faults and the usage counters, as one JSON
 * file. Restoring continues exactly where the saved emulator was: the same ids keep coming from the same sequence,
 * and the clock keeps its offset from real time (a frozen clock stays frozen at the saved instant).
 *
 * The request log is not saved (it is inspection, not state). The file holds the emulated users' passwords and the
 * apps' client secrets (test doubles, see state/model.ts) but no token or code: the world keeps only their digests.
 * It is written with mode 0600.
 *
 * Older files load as they are. A personal account saved before the emulator gave personal accounts their own Graph
 * id (a GUID oid, no `graphId`) keeps its oid, which clients have stored as the identity, and answers Graph with an
 * id derived from it (`graphUserId`, state/personal-accounts.ts).
 */

export const SNAPSHOT_FORMAT = 'mailbridge-emulator-snapshot';
export const SNAPSHOT_VERSION = 1;

export interface EmulatorSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  savedAt: string;
  seed: string;
  randomState: [number, number, number, number];
  clock: { nowMs: number; offsetMs: number; frozen: boolean };
  settings: EmulatorSettings;
  faults: FaultRule[];
  usage: Record<string, MailboxUsage>;
  nextRequestSeq: number;
  world: WorldState;
}

/** The snapshot of a context as a plain JSON-safe object (a deep copy: later changes do not leak into it). */
export function takeSnapshot(ctx: EmulatorContext): EmulatorSnapshot {
  const snapshot: EmulatorSnapshot = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    savedAt: new Date(ctx.clock.now()).toISOString(),
    seed: ctx.random.seed,
    randomState: ctx.random.saveState(),
    clock: { nowMs: ctx.clock.now(), offsetMs: ctx.clock.offsetMs, frozen: ctx.clock.frozen },
    settings: ctx.settings,
    faults: ctx.faults,
    // Requests in flight when the snapshot is taken will not be in flight when it is restored.
    usage: Object.fromEntries(Object.entries(ctx.usage).map(([key, usage]) => [key, { ...usage, inFlight: 0 }])),
    nextRequestSeq: ctx.nextRequestSeq,
    world: ctx.world,
  };
  return JSON.parse(JSON.stringify(snapshot)) as EmulatorSnapshot;
}

/**
 * Writes the snapshot atomically: to a temporary file in the same directory, flushed to disk, then renamed over
 * `file`, so that a crash mid-write leaves the previous snapshot intact, and the directory flushed so the rename
 * itself survives a power loss. Returns the bytes written.
 */
export async function saveSnapshot(ctx: EmulatorContext, file: string): Promise<{ file: string; bytes: number }> {
  // Serialise synchronously, before any await, so that the file is one consistent moment of the world.
  const json = `${JSON.stringify(takeSnapshot(ctx), null, 2)}\n`;
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(json, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // The rename is durable only once the directory entry is: fsync the directory (POSIX; Linux and macOS allow it).
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
  return { file, bytes: Buffer.byteLength(json) };
}

const collection = z.record(z.string(), z.looseObject({}));
const snapshotSchema = z.looseObject({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  seed: z.string().min(1),
  randomState: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  clock: z.object({ nowMs: z.number(), offsetMs: z.number(), frozen: z.boolean() }),
  settings: z.looseObject({ limits: z.looseObject({}) }),
  faults: z.array(z.looseObject({ id: z.string() })),
  usage: collection,
  nextRequestSeq: z.number().int().positive(),
  // The core collections are checked; anything else other modules keep in the world is carried as it is.
  world: z.looseObject({
    tenants: collection,
    users: collection,
    apps: collection,
    consents: collection,
    codes: collection,
    refreshTokens: collection,
    accessTokens: collection,
    adminApprovalRequests: collection,
    mailboxes: collection,
    deliveries: z.array(z.looseObject({})),
    outside: z.array(z.looseObject({})),
  }),
});

export interface LoadSnapshotOptions {
  /** Serve with this clock instead of restoring the saved one. */
  clock?: EmulatorClock;
  /** Public origins (not saved: they depend on where the emulator listens). */
  urls?: Partial<EmulatorUrls>;
  /** Deep-merged over the saved settings. */
  settings?: Partial<Omit<EmulatorSettings, 'limits'>> & { limits?: Partial<EmulatorSettings['limits']> };
  /** Where `POST /_emulator/snapshot` saves afterwards; default: the file loaded from. Null disables it. */
  snapshotFile?: string | null;
}

/** A context restored from a snapshot object (as `takeSnapshot` returns). Throws on a malformed snapshot. */
export function restoreSnapshot(snapshot: unknown, options: LoadSnapshotOptions = {}): EmulatorContext {
  const parsed = snapshotSchema.safeParse(snapshot);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new Error(`emulator: not a usable snapshot (${problems.slice(0, 5).join('; ')})`);
  }
  // Validated above for shape; the entities inside are the emulator's own output and are taken as they are.
  const data = snapshot as EmulatorSnapshot;
  const random = new EmulatorRandom(data.seed);
  random.restoreState(data.randomState);
  const clock =
    options.clock ??
    (data.clock.frozen
      ? new EmulatorClock({ startAt: data.clock.nowMs, frozen: true })
      : new EmulatorClock({ startAt: Date.now() + data.clock.offsetMs }));
  const saved = data.settings;
  const settings: EmulatorSettings = {
    ...defaultSettings,
    ...saved,
    ...options.settings,
    limits: {
      ...defaultSettings.limits,
      ...saved.limits,
      ...options.settings?.limits,
      exchange: {
        ...defaultSettings.limits.exchange,
        ...saved.limits?.exchange,
        ...options.settings?.limits?.exchange,
      },
      outlook: { ...defaultSettings.limits.outlook, ...saved.limits?.outlook, ...options.settings?.limits?.outlook },
    },
  };
  return {
    world: data.world,
    clock,
    random,
    settings,
    urls: { login: options.urls?.login ?? '', graph: options.urls?.graph ?? '', outlook: options.urls?.outlook ?? '' },
    requestLog: [],
    nextRequestSeq: data.nextRequestSeq,
    faults: data.faults,
    usage: data.usage,
    snapshotFile: options.snapshotFile === undefined ? null : options.snapshotFile,
  };
}

/**
 * Reads a snapshot file into a new context, ready for `startEmulator({ ctx })`. `POST /_emulator/snapshot` on it
 * saves back to the same file unless `options.snapshotFile` says otherwise. Throws when the file is missing or is
 * not a snapshot.
 */
export function loadSnapshot(file: string, options: LoadSnapshotOptions = {}): EmulatorContext {
  let snapshot: unknown;
  try {
    snapshot = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`emulator: cannot read snapshot ${file}`, { cause: error });
  }
  return restoreSnapshot(snapshot, {
    ...options,
    snapshotFile: options.snapshotFile === undefined ? file : options.snapshotFile,
  });
}
