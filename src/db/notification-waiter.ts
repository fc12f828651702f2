import pg from 'pg';
import type { Logger } from '../platform/logger.js';

/** How a wait ended. */
export type WaitEnd = 'notified' | 'fallback' | 'cancelled';

/** One wait for a notification about a key (see `NotificationWaiter.expect`). */
export interface ExpectedNotification {
  /** Resolves at the notification, after the fallback delay without one, or at `cancel`: saying which. */
  readonly arrived: Promise<WaitEnd>;
  /** No longer interested (the caller found what it waited for another way). */
  cancel(): void;
}

/** A listener that misses no notification still looks again this often (a holder that died never notifies). */
const FALLBACK_LISTENING_MS = 1_000;
/** Without a listening connection (it could not be opened): looking this often is the only way to notice. */
const FALLBACK_NOT_LISTENING_MS = 25;
/** The connection is closed once nobody has waited for this long, so an idle process holds no extra connection. */
const IDLE_CLOSE_MS = 2_000;

/**
 * Waits for PostgreSQL notifications on one channel whose payload is a key (an account id), so a process waiting for
 * another process's work hears of its end instead of polling for it (issue 14: two processes refreshing the same
 * accounts polled every 25 ms). One dedicated connection per waiter object, outside the pool (a LISTEN belongs to a
 * session), opened at the first wait and closed when idle. Notifications are delivered only after the notifying
 * transaction commits, in commit order.
 *
 * The caller calls `expect(key)` BEFORE the attempt that may find the work in progress (e.g. taking a lease): once
 * `expect` resolved the connection is listening, so a notification sent after the attempt is never missed. A
 * notification for a key nobody waits for is ignored; one for a waited key wakes every waiter of that key.
 */
export class NotificationWaiter {
  readonly #url: string | undefined;
  readonly #channel: string;
  readonly #logger: Logger;
  readonly #waiters = new Map<string, Set<(how: WaitEnd) => void>>();
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client | undefined> | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #warned = false;

  /** Without a `url` (the database's address is not known here) every wait polls. */
  constructor(options: { url: string | undefined; channel: string; logger: Logger }) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new Error(`bad channel name ${options.channel}`);
    this.#url = options.url;
    this.#channel = options.channel;
    this.#logger = options.logger;
  }

  /** Whether the connection is open and listening now (then `expect` costs no round trip). */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  async expect(key: string): Promise<ExpectedNotification> {
    this.#stopIdleTimer();
    const listening = (await this.#listening()) !== undefined;
    let wake!: (how: WaitEnd) => void;
    const arrived = new Promise<WaitEnd>((resolve) => {
      wake = resolve;
    });
    const timer = setTimeout(() => finish('fallback'), listening ? FALLBACK_LISTENING_MS : FALLBACK_NOT_LISTENING_MS);
    const finish = (how: WaitEnd): void => {
      clearTimeout(timer);
      const set = this.#waiters.get(key);
      set?.delete(finish);
      if (set?.size === 0) this.#waiters.delete(key);
      if (this.#waiters.size === 0) this.#startIdleTimer();
      wake(how);
    };
    let set = this.#waiters.get(key);
    if (!set) {
      set = new Set();
      this.#waiters.set(key, set);
    }
    set.add(finish);
    return { arrived, cancel: () => finish('cancelled') };
  }

  /** Closes the connection now (it is opened again by the next `expect`). */
  async close(): Promise<void> {
    this.#stopIdleTimer();
    const client = this.#client ?? (await this.#connecting);
    this.#client = undefined;
    this.#connecting = undefined;
    await client?.end().catch(() => {
      // Already broken: nothing left to close.
    });
  }

  #listening(): Promise<pg.Client | undefined> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<pg.Client | undefined> {
    if (this.#url === undefined) return undefined;
    const client = new pg.Client({ connectionString: this.#url, application_name: 'mailbridge-listen' });
    client.on('error', (error) => {
      this.#logger.warn(
        { err: error, channel: this.#channel },
        'notification connection lost; waiters poll until it is back',
      );
      if (this.#client === client) this.#client = undefined;
      void client.end().catch(() => undefined);
      this.#wakeAll();
    });
    client.on('notification', (message) => {
      if (message.channel !== this.#channel || message.payload === undefined) return;
      for (const finish of [...(this.#waiters.get(message.payload) ?? [])]) finish('notified');
    });
    try {
      await client.connect();
      await client.query(`listen ${this.#channel}`);
      this.#client = client;
      this.#warned = false;
      return client;
    } catch (error) {
      if (!this.#warned) {
        this.#logger.warn({ err: error, channel: this.#channel }, 'cannot listen for notifications; polling instead');
        this.#warned = true;
      }
      await client.end().catch(() => undefined);
      return undefined;
    }
  }

  #wakeAll(): void {
    for (const set of [...this.#waiters.values()]) for (const finish of [...set]) finish('fallback');
  }

  #startIdleTimer(): void {
    this.#stopIdleTimer();
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#waiters.size === 0) void this.close();
    }, IDLE_CLOSE_MS);
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
