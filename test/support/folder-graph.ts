import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The folder-level import graph of `src/` (ARCHITECTURE.md): an edge `a → b` when a file of folder `a` imports, at
 * run time, a file of folder `b`. Type-only imports (`import type`, `import { type X }` with every name a type,
 * `export type … from`) are left out: they vanish from the compiled JavaScript and cannot form a load-order cycle.
 * Files directly under `src/` (the composition root, the CLI) form the folder `.`.
 */
export type FolderGraph = Map<string, Map<string, string[]>>;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

/**
 * The statements that load a module, read with patterns (the project's TypeScript 7 has no JavaScript compiler API;
 * biome's formatting keeps every import and re-export at the start of a line):
 * `import [type] <clause> from '…'`, `import '…'`, `export [type] { … } | * from '…'`, `import('…')`.
 */
const IMPORT_FROM =
  /^import\s+(type\s+)?([\w$]+\s*,\s*)?(\{[^}]*\}|\*\s+as\s+[\w$]+|[\w$]+)\s+from\s+['"]([^'"]+)['"]/gm;
const SIDE_EFFECT_IMPORT = /^import\s+['"]([^'"]+)['"]/gm;
const EXPORT_FROM = /^export\s+(type\s+)?(\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?)\s+from\s+['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Whether `{ type A, type B }` names only types (then the import is erased from the JavaScript). */
function onlyTypes(clause: string): boolean {
  if (!clause.startsWith('{')) return false;
  const names = clause
    .slice(1, -1)
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  return names.length > 0 && names.every((name) => name.startsWith('type '));
}

/** The relative specifiers a file imports at run time. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const match of text.matchAll(IMPORT_FROM)) {
    const [, typeKeyword, defaultName, clause = '', specifier = ''] = match;
    if (typeKeyword || (!defaultName && onlyTypes(clause))) continue;
    out.push(specifier);
  }
  for (const match of text.matchAll(EXPORT_FROM)) {
    const [, typeKeyword, clause = '', specifier = ''] = match;
    if (typeKeyword || onlyTypes(clause)) continue;
    out.push(specifier);
  }
  for (const match of text.matchAll(SIDE_EFFECT_IMPORT)) out.push(match[1] ?? '');
  for (const match of text.matchAll(DYNAMIC_IMPORT)) out.push(match[1] ?? '');
  return out.filter((specifier) => specifier.startsWith('.'));
}

/** The folder of a file under `src/`: its first path segment, or `.` for a file directly under `src/`. */
function folderOf(srcRoot: string, file: string): string {
  const parts = relative(srcRoot, file).split(sep);
  return parts.length > 1 ? (parts[0] as string) : '.';
}

/** Every folder → folder edge, with the files that make it (for the failure message). */
export function folderGraph(srcRoot: string): FolderGraph {
  const graph: FolderGraph = new Map();
  for (const file of sourceFiles(srcRoot)) {
    const from = folderOf(srcRoot, file);
    const edges = graph.get(from) ?? new Map<string, string[]>();
    graph.set(from, edges);
    for (const specifier of runtimeImports(file)) {
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(srcRoot + sep)) continue;
      const to = folderOf(srcRoot, target);
      if (to === from) continue;
      const files = edges.get(to) ?? [];
      files.push(`${relative(srcRoot, file)} → ${specifier}`);
      edges.set(to, files);
    }
  }
  return graph;
}

/** The strongly connected components of more than one folder (Tarjan): each is a folder cycle. */
export function folderCycles(graph: FolderGraph): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (node: string): void => {
    indexOf.set(node, index);
    low.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!indexOf.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, indexOf.get(next) as number));
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indexOf.has(node)) connect(node);
  return cycles;
}
