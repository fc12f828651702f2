import type { BackgroundKind, LoopContext, LoopTask } from './background-kind.js';

/**
 * Every kind of background work of one composed service, assembled at composition (src/compose.ts) from the
 * features' declarations. The pg-boss engine creates its queues from it, the job worker runs its handlers, the
 * embedded loop its tasks; nothing else lists the kinds.
 */
export class BackgroundRegistry {
  readonly kinds: readonly BackgroundKind[];
  readonly #byName: ReadonlyMap<string, BackgroundKind>;

  constructor(kinds: readonly BackgroundKind[]) {
    const byName = new Map<string, BackgroundKind>();
    for (const kind of kinds) {
      if (byName.has(kind.name)) throw new Error(`background work "${kind.name}" is registered twice`);
      byName.set(kind.name, kind);
    }
    this.kinds = kinds;
    this.#byName = byName;
  }

  get names(): readonly string[] {
    return [...this.#byName.keys()];
  }

  get(name: string): BackgroundKind | undefined {
    return this.#byName.get(name);
  }

  /** The embedded loop's tasks, in tick order, and which of them an enqueue of each kind nudges. */
  loop(context: LoopContext): { tasks: LoopTask[]; nudged: ReadonlyMap<string, readonly string[]> } {
    const tasks: LoopTask[] = [];
    const nudged = new Map<string, readonly string[]>();
    for (const kind of this.kinds) {
      const own = kind.loopTasks?.(context) ?? [];
      tasks.push(...own);
      nudged.set(
        kind.name,
        own.map((task) => task.name),
      );
    }
    // Stable: tasks of equal order keep their registration order.
    tasks.sort((a, b) => a.tickOrder - b.tickOrder);
    return { tasks, nudged };
  }
}
