// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by module (npm
// package, project directory, node internals, GC), and inclusive time by function.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Row {
  name: string;
  module: string;
  where: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples where the thread was idle (waiting on I/O). */
  idlePct: number;
  selfByFunction: Row[];
  selfByModule: Row[];
  inclusiveByFunction: Row[];
}

/** Which package / project directory / runtime part a frame's script belongs to. */
export function moduleOf(frame: CallFrame, projectRoot: string): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`;
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 14).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (path.startsWith(projectRoot)) return path.slice(projectRoot.length + 1).split('/').slice(0, 2).join('/');
  return path;
}

/**
 * `window` (CLOCK_MONOTONIC µs, as process.hrtime in any process of the machine, which is V8's
 * profile clock on Linux) keeps only samples taken within it, e.g. a measurement window without start-up.
 */
export function summariseProfile(file: string, projectRoot: string, top = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${n.callFrame.url}\u0000${n.callFrame.lineNumber}`;

  const self = new Map<string, number>();
  const selfModule = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let total = 0;
  let idle = 0;
  // Sample i lasts until sample i+1.
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!)!;
    total += dt;
    if (node.callFrame.functionName === '(idle)') idle += dt;
    const key = keyOf(node);
    frames.set(key, node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    const mod = moduleOf(node.callFrame, projectRoot);
    selfModule.set(mod, (selfModule.get(mod) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      frames.set(k, n.callFrame);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const rows = (m: Map<string, number>, asModule: boolean): Row[] =>
    [...m]
      .filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(root)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => {
        if (asModule) return { name: k, module: k, where: '', ms: Math.round(ms), pct: Math.round((1000 * ms) / busy) / 10 };
        const f = frames.get(k)!;
        const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(`${projectRoot}/`, '').replace(/.*\/node_modules\//, '')}:${f.lineNumber + 1}` : '';
        return { name: f.functionName || '(anonymous)', module: moduleOf(f, projectRoot), where, ms: Math.round(ms), pct: Math.round((1000 * ms) / busy) / 10 };
      });
  return {
    totalMs: Math.round(total),
    idlePct: Math.round((1000 * idle) / total) / 10,
    selfByFunction: rows(self, false),
    selfByModule: rows(selfModule, true),
    inclusiveByFunction: rows(inclusive, false),
  };
}
