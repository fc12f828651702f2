import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { withoutPasswords } from '../../support/redact-output.js';

/**
 * A real `mailbridge <role>` process (`src/cli.ts`, as `npm start` runs it), its stdout split into lines (pino JSON
 * and the plain-text banners), for the tests of process roles and shutdown.
 */
export interface ChildService {
  child: ChildProcess;
  /** Every stdout and stderr line so far. */
  lines: string[];
  /** The JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the first log line `match` accepts (already seen or still to come); rejects on exit or timeout. */
  waitForLog(match: (log: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  exited: Promise<number | string>;
  /** SIGKILL if still running (test teardown). */
  kill(): Promise<void>;
}

const CLI = fileURLToPath(new URL('../../../src/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function startChildService(role: 'start' | 'api' | 'worker', env: Record<string, string>): ChildService {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, role], {
    cwd: ROOT,
    // Only what the test gives: no inherited DATABASE_URL, MICROSOFT_* or MAILBRIDGE_* from the developer's shell.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
      for (const wake of waiters) wake();
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
      for (const wake of waiters) wake();
    });
  });
  const logs = () =>
    lines.flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return {
    child,
    lines,
    logs,
    exited,
    waitForLog: (match, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching log line within ${timeoutMs} ms; output:\n${withoutPasswords(lines.slice(-30).join('\n'))}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          const found = logs().find(match);
          if (found) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(
              new Error(
                `the process exited (${child.exitCode ?? child.signalCode}); output:\n${withoutPasswords(lines.join('\n'))}`,
              ),
            );
          }
        };
        waiters.add(check);
        check();
      }),
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
