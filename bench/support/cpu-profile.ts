import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`, written when the process exits): where a process spent its time,
 * by frame (self time), by module (a package under node_modules, a file of ours, Node's internals) and, for our own
 * functions, inclusive time (the frame or anything it called was on the stack).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  /** Sampled time that was not idle (program, GC and JavaScript). */
  busyMs: number;
  idleMs: number;
  gcMs: number;
  topFrames: ProfileEntry[];
  byModule: ProfileEntry[];
  /** Inclusive time of functions in src/ and emulator/ (ours), largest first. */
  ownInclusive: ProfileEntry[];
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function moduleOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return '(program: native, compiling)';
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node internals';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return relative(ROOT, path);
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = moduleOf(url, functionName);
  if (url === '') return functionName || '(anonymous)';
  return `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
}

function isOwn(url: string): boolean {
  if (!url.startsWith('file://')) return false;
  const path = relative(ROOT, fileURLToPath(url));
  return path.startsWith('src/') || path.startsWith('emulator/');
}

export function summarizeCpuProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfUs = new Map<string, number>();
  const moduleUs = new Map<string, number>();
  const ownUs = new Map<string, number>();
  let idleUs = 0;
  let gcUs = 0;
  let totalUs = 0;
  for (let index = 0; index < profile.samples.length; index++) {
    // A sample's time is the delta to the next sample.
    const us = profile.timeDeltas[index + 1] ?? 0;
    if (us <= 0) continue;
    const node = byId.get(profile.samples[index]!);
    if (!node) continue;
    totalUs += us;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    if (functionName === '(garbage collector)') gcUs += us;
    const name = frameName(node);
    selfUs.set(name, (selfUs.get(name) ?? 0) + us);
    const module = moduleOf(url, functionName);
    moduleUs.set(module, (moduleUs.get(module) ?? 0) + us);
    // Inclusive: each of our functions on this sample's stack, once per sample.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!;
      if (!isOwn(frame.callFrame.url)) continue;
      const own = frameName(frame);
      if (seen.has(own)) continue;
      seen.add(own);
      ownUs.set(own, (ownUs.get(own) ?? 0) + us);
    }
  }
  const busyUs = totalUs - idleUs;
  const entries = (map: Map<string, number>, limit: number): ProfileEntry[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return {
    file,
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    gcMs: gcUs / 1000,
    topFrames: entries(selfUs, top),
    byModule: entries(moduleUs, top),
    ownInclusive: entries(ownUs, top),
  };
}

/** The `.cpuprofile` files in `dir`, oldest first. */
export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort()
    .map((name) => join(dir, name));
}

export function printProfileSummary(label: string, summary: ProfileSummary): void {
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
  console.log('');
  console.log(
    `profile ${label}: ${(summary.wallMs / 1000).toFixed(1)} s wall, ${(summary.busyMs / 1000).toFixed(1)} s busy (${(summary.idleMs / 1000).toFixed(1)} s idle, GC ${(summary.gcMs / 1000).toFixed(1)} s) — ${summary.file}`,
  );
  console.log('  self time by module (share of busy time):');
  for (const entry of summary.byModule.slice(0, 10)) {
    console.log(`    ${pct(entry.share).padStart(6)}  ${entry.name}`);
  }
  console.log('  top frames by self time:');
  for (const entry of summary.topFrames.slice(0, 12)) {
    console.log(`    ${pct(entry.share).padStart(6)}  ${entry.name}`);
  }
  console.log('  our functions by inclusive time:');
  for (const entry of summary.ownInclusive.slice(0, 12)) {
    console.log(`    ${pct(entry.share).padStart(6)}  ${entry.name}`);
  }
}
