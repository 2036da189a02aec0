// Summarises the V8 CPU profiles `npm run bench:saga -- --profile` made of every service, cut to
// one measurement window: per service, where the CPU went by package (node_modules/<pkg>, the
// repo's own files, node core, GC) and the hottest functions by self time (a native function is
// shown with the nearest JavaScript caller that has a source).
// Usage: node bench/saga/profile-summary.ts [.data/bench/profiles/<run>] [--concurrency C] [--top 15]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { repoDirs } from '@shopgraph/infra';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Run {
  pids: Record<string, string>;
  windows: { concurrency: number; sagasPerS: number; monotonicUs: [number, number] }[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' }, concurrency: { type: 'string' } } });
const { root, data } = repoDirs();
const base = join(data, 'bench', 'profiles');
const dir = positionals[0] ?? join(base, readdirSync(base).sort().at(-1) ?? '');
const top = Number(values.top);
const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Run;
const window = values.concurrency ? run.windows.find((w) => w.concurrency === Number(values.concurrency)) : run.windows.at(-1);
if (!window) throw new Error(`no measurement window${values.concurrency ? ` for concurrency ${values.concurrency}` : ''} in ${dir}/run.json`);
const [from, to] = window.monotonicUs;
console.log(`profiles in ${dir}, window of concurrency ${window.concurrency} (${window.sagasPerS} sagas/s, ${((to - from) / 1e6).toFixed(1)} s)`);

const packageOf = (url: string): string => {
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1]!;
  if (url.startsWith('node:')) return 'node core';
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(root) ? `repo: ${relative(root, path).split('/').slice(0, 2).join('/')}` : path || '(native)';
};
const where = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'} ${packageOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const pid = /\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1] ?? '?';
  const name = run.pids[pid] ?? `pid ${pid}`;
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Self time per node, only for samples inside the window.
  const self = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t >= from && t <= to) self.set(id, (self.get(id) ?? 0) + delta);
  });
  let busy = 0;
  let idle = 0;
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    let key: string;
    let pkg: string;
    if (functionName.startsWith('(')) {
      key = pkg = functionName; // (garbage collector), (program)
    } else if (!url) {
      // Native: name the nearest caller with a source.
      let up = parent.get(id);
      while (up !== undefined && !byId.get(up)!.callFrame.url) up = parent.get(up);
      const caller = up === undefined ? undefined : byId.get(up)!;
      pkg = caller ? packageOf(caller.callFrame.url) : '(native)';
      key = `[native] ${functionName} ← ${caller ? where(caller) : '?'}`;
    } else {
      pkg = packageOf(url);
      key = where(node);
    }
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  if (busy + idle === 0) {
    console.log(`\n== ${name} (pid ${pid}): no samples in the window`);
    continue;
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  console.log(`\n== ${name} (pid ${pid}): ${(busy / 1e6).toFixed(1)} s on CPU in the window (${((100 * busy) / (to - from)).toFixed(0)}% of one core), ${(idle / 1e6).toFixed(1)} s idle`);
  console.log('  by package (self time):');
  for (const [pkg, us] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`    ${pct(us)}  ${pkg}`);
  console.log('  hottest functions (self time):');
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${pct(us)}  ${fn}`);
}
