import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/ports.js';

/**
 * The processes of a benchmark: fixtures forked with an IPC channel (the emulator, worker-like drivers) and real
 * mailbridge processes (`node --import tsx src/cli.ts start|api|worker`), plus what /proc says about them (resident
 * memory, CPU seconds). Loopback only.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROCESS_PROBE = fileURLToPath(new URL('../fixtures/process-probe.ts', import.meta.url));

/** A forked fixture that answers `{ id, op, … }` requests over IPC with `{ id, ok, result | error }`. */
export class Fixture<Ready> {
  readonly child: ChildProcess;
  readonly ready: Ready;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  private constructor(child: ChildProcess, ready: Ready) {
    this.child = child;
    this.ready = ready;
    child.on('message', (message: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (typeof message?.id !== 'number') return;
      const waiter = this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(message.error ?? 'fixture request failed'));
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`fixture exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  /**
   * Forks `bench/fixtures/<file>` through tsx and waits for its first IPC message (what it is ready with).
   * `execArgv` adds Node options (e.g. `--cpu-prof`).
   */
  static async start<Ready>(
    file: string,
    env: Record<string, string> = {},
    options: { execArgv?: string[]; startTimeoutMs?: number } = {},
  ): Promise<Fixture<Ready>> {
    const child = fork(fileURLToPath(new URL(`../fixtures/${file}`, import.meta.url)), [], {
      execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // IPC messages of minted tokens run to megabytes; the advanced serializer keeps them cheap.
      serialization: 'advanced',
    });
    const timeoutMs = options.startTimeoutMs ?? 300_000;
    const ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${file} did not start within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited (${code}) before it was ready`));
      };
      child.once('message', (message) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(message as Ready);
      });
      child.once('exit', onExit);
    });
    return new Fixture(child, ready);
  }

  request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: (value) => resolve(value as T), reject });
      this.child.send({ id, op, ...args });
    });
  }

  /** Disconnects (the fixture's cue to stop) and waits for it to exit; SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<number | string> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | string>((resolve) =>
      this.child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
    );
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

export type MailbridgeRole = 'start' | 'api' | 'worker';

export interface MailbridgeProcess {
  role: MailbridgeRole;
  child: ChildProcess;
  /** Where it answers /healthz: PORT for start and api, MAILBRIDGE_OPS_PORT for a worker. */
  probeOrigin: string;
  /** PORT's origin (start and api). */
  origin: string | undefined;
  /** Lines it wrote to stderr (kept for the report when it fails). */
  stderr: string[];
}

/**
 * Spawns `node --import tsx src/cli.ts <role>` with exactly `env` (plus PATH and HOME): a worker gets an ops port so
 * it can be probed. `nodeOptions` go before `--import` (e.g. `--cpu-prof --cpu-prof-dir=…`); `probe` preloads
 * bench/fixtures/process-probe.ts (see `probeProcess`). Waits for /healthz.
 */
export async function startMailbridge(
  role: MailbridgeRole,
  env: Record<string, string>,
  options: { nodeOptions?: string[]; startTimeoutMs?: number; probe?: boolean } = {},
): Promise<MailbridgeProcess> {
  const port = await freePort();
  const roleEnv: Record<string, string> =
    role === 'worker' ? { MAILBRIDGE_OPS_PORT: String(port) } : { PORT: String(port) };
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeOptions ?? []),
      ...(options.probe ? ['--expose-gc'] : []),
      '--import',
      'tsx',
      // Answers SIGUSR2 with the process's memory after GC and its SQL statements (bench/fixtures/process-probe.ts).
      ...(options.probe ? ['--import', PROCESS_PROBE] : []),
      fileURLToPath(new URL('../../src/cli.ts', import.meta.url)),
      role,
    ],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        ...(process.env.BENCH_STATEMENT_SHAPES ? { BENCH_STATEMENT_SHAPES: process.env.BENCH_STATEMENT_SHAPES } : {}),
        ...env,
        ...roleEnv,
      },
      // stdout carries the request log lines and the first admin's banner: not wanted here.
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 200) stderr.shift();
  });
  const origin = `http://127.0.0.1:${port}`;
  const running: MailbridgeProcess = {
    role,
    child,
    probeOrigin: origin,
    origin: role === 'worker' ? undefined : origin,
    stderr,
  };
  await waitForHealth(running.probeOrigin, child, {
    name: `mailbridge ${role}`,
    timeoutMs: options.startTimeoutMs ?? 120_000,
    output: () => stderr.join(''),
  });
  return running;
}

/** Polls `<origin>/healthz` until it answers 200; fails when the child exits first or after `timeoutMs`. */
export async function waitForHealth(
  origin: string,
  child: ChildProcess,
  options: { name: string; timeoutMs: number; output?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${options.name} exited (${child.exitCode})${options.output ? `: ${options.output()}` : ''}`);
    }
    try {
      if ((await fetch(`${origin}/healthz`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${options.name} did not answer /healthz within ${options.timeoutMs / 1000} s`);
}

/** SIGTERM (graceful shutdown), SIGKILL after `graceMs`; resolves with the exit code or signal. */
export async function stopMailbridge(
  service: Pick<MailbridgeProcess, 'child'>,
  graceMs = 30_000,
): Promise<number | string> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? 'unknown';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Peak resident set size of a process (VmHWM), in bytes. */
export function peakResidentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kib) * 1024;
}

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, in clock ticks of 1/100 s on Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / 100;
}

/**
 * Context switches of a process's main thread (its event loop) so far, from /proc/<pid>/status: `voluntary` when it
 * waited (a socket, a timer), `involuntary` when the kernel took the CPU from it for another runnable thread, a sign
 * of more busy processes than cores.
 */
export function contextSwitches(pid: number): { voluntary: number; involuntary: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
}

export interface ProcessMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface ProcessProbe {
  memory: ProcessMemory;
  /** SQL statements sent so far: PostgreSQL queries and SQLite statement runs. */
  statements: { pg: number; sqlite: number };
}

/**
 * Asks a process started with `probe: true` for its memory after two full GCs and its SQL statement counts
 * (SIGUSR2), and waits for the answer on its stderr.
 */
export async function probeProcess(service: MailbridgeProcess, timeoutMs = 10_000): Promise<ProcessProbe> {
  const stream = service.child.stderr;
  if (!stream) throw new Error('the process has no stderr pipe');
  return new Promise<ProcessProbe>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`no probe report from mailbridge ${service.role} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onData = (chunk: string) => {
      buffer += chunk;
      const match = /bench-probe (\{[^\n]*\})\n/.exec(buffer);
      if (!match) return;
      clearTimeout(timer);
      stream.off('data', onData);
      resolve(JSON.parse(match[1]!) as ProcessProbe);
    };
    stream.on('data', onData);
    service.child.kill('SIGUSR2');
  });
}
