import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * mailbridge as a real, separate operating-system process (`node --import tsx src/cli.ts start`: HTTP and background
 * worker in one process), so that a test can `SIGKILL` it at any instant and start it again with the same
 * environment. Everything it prints is kept (`output`) for failure messages.
 */

/** The repository root (the service runs from there, as `npm start` does). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The environment of a child: only what is given (plus PATH/HOME), never the test runner's own variables. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...env };
}

/** Runs a `mailbridge` CLI command to completion (e.g. `api-keys create`); throws on a non-zero exit. */
export async function runCliOrThrow(
  args: string[],
  env: Record<string, string>,
): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`mailbridge ${args.join(' ')} exited ${code}:\n${stderr}`);
  return { stdout, stderr };
}

export interface ServiceRun {
  /** 1 for the first start, 2 after the first restart… */
  number: number;
  pid: number;
  /** How the process ended: `SIGKILL`, `SIGTERM`, an exit code, or null while it runs. */
  ended: string | null;
  /** Milliseconds from spawn until `/healthz` answered. */
  startMs: number;
}

/** Children still running when the test process exits (a failed or timed-out test) are killed with it. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export class ServiceProcess {
  readonly url: string;
  readonly runs: ServiceRun[] = [];
  /** Everything every run printed, prefixed with its run number. */
  readonly output: string[] = [];
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;

  constructor(
    readonly env: Record<string, string>,
    /** Where `/healthz` answers: PORT, or for a `worker` its MAILBRIDGE_OPS_PORT. */
    readonly port: number,
    /** `mailbridge <command>`: `start` (HTTP and background work), `api` or `worker` (test/acceptance/scale-out). */
    readonly command: 'start' | 'api' | 'worker' = 'start',
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts a new run with the same environment and waits (bounded) until `/healthz` answers. */
  async start(timeoutMs = 60_000): Promise<ServiceRun> {
    if (this.#child) throw new Error('the service is already running');
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', this.command], {
      cwd: REPO_ROOT,
      env: childEnv(this.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('the service process could not be spawned');
    const run: ServiceRun = { number: this.runs.length + 1, pid: child.pid, ended: null, startMs: 0 };
    this.runs.push(run);
    const record = (stream: string) => (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') this.output.push(`[run ${run.number} ${stream}] ${line}`);
      }
    };
    child.stdout?.on('data', record('out'));
    child.stderr?.on('data', record('err'));
    this.#child = child;
    liveChildren.add(child);
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        run.ended = signal ?? `exit ${code}`;
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });

    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (run.ended !== null) {
        throw new Error(`the service ended (${run.ended}) before answering:\n${this.tail()}`);
      }
      try {
        const answer = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2_000) });
        if (answer.ok) {
          run.startMs = Math.round(performance.now() - started);
          return run;
        }
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    await this.kill();
    throw new Error(`the service did not answer /healthz within ${timeoutMs} ms:\n${this.tail()}`);
  }

  /** `SIGKILL`: no shutdown hook runs, no transaction finishes. Waits until the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.#exited;
  }

  /** `SIGTERM` (graceful), then `SIGKILL` if it is still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGTERM');
    const exited = this.#exited;
    const timedOut = await Promise.race([exited?.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) await this.kill();
  }

  /** The last lines the service printed, for failure messages. */
  tail(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }
}
