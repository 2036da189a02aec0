// Cheap CPU accounting from /proc: utime+stime of every process the benchmark cares about,
// sampled at the start and end of a measurement window. Linux only.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on every Linux this runs on). */
const HZ = 100;

interface ProcSample {
  label: string;
  ticks: number;
}

export interface CpuSample {
  at: number;
  procs: Map<number, ProcSample>;
  /** Busy and total jiffies of the whole machine (/proc/stat, all CPUs). */
  systemBusy: number;
  systemTotal: number;
  /** This process (the load generator and observer), in ms of CPU. */
  selfMs: number;
}

export interface CpuUsage {
  seconds: number;
  /** Per label: CPU used in the window as % of one core (200 % = both cores of a 2-core box). */
  byLabel: Record<string, number>;
  /** The whole machine: busy % of all cores together (100 % = every core saturated). */
  machineBusyPct: number;
  /** What the labelled processes (ours) do not explain: other users of the machine, as % of one core. */
  otherPct: number;
  cores: number;
}

/**
 * Labels a process, or undefined to ignore it: our own children by their entry point (router,
 * each subgraph, the Kafka broker, Elasticsearch, the reindex script), Postgres backends by
 * database (only databases whose name starts with `dbPrefix`), and Postgres' background processes.
 */
function labelOf(pid: number, ppid: number, cmdline: string, dbPrefix: string): string | undefined {
  if (ppid === process.pid) {
    const subgraph = /subgraphs\/([\w-]+)\/src\/index\.ts/.exec(cmdline);
    if (subgraph) return subgraph[1]!;
    if (cmdline.includes('router/src/index.ts')) return 'router';
    if (cmdline.includes('registry/src/index.ts')) return 'registry';
    if (cmdline.includes('kafka.Kafka')) return 'kafka (JVM)';
    if (cmdline.includes('org.elasticsearch.')) return 'elasticsearch (JVMs)';
    if (cmdline.includes('scripts/search-reindex.ts')) return 'search:reindex';
    return undefined;
  }
  // Elasticsearch's server JVM is the child of its launcher, which is ours.
  if (cmdline.includes('org.elasticsearch.bootstrap.Elasticsearch') && readStat(ppid)?.ppid === process.pid) return 'elasticsearch (JVMs)';
  if (!cmdline.startsWith('postgres')) return undefined;
  // "postgres: 15/main: <user> <database> 127.0.0.1(port) <state>" (the cluster name is optional).
  const backend = /^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(cmdline);
  if (backend) return backend[1]!.startsWith(dbPrefix) ? `postgres: ${backend[1]}` : undefined;
  if (/^postgres: (?:\S+: )?(walwriter|checkpointer|background writer|autovacuum|logical replication|wal)/.test(cmdline)) return 'postgres: background (shared)';
  return undefined;
}

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

export function sampleCpu(dbPrefix: string): CpuSample {
  const procs = new Map<number, ProcSample>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readStat(pid);
    if (!stat) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      continue;
    }
    const label = labelOf(pid, stat.ppid, cmdline, dbPrefix);
    if (label) procs.set(pid, { label, ticks: stat.ticks });
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
  const busy = user + nice + system + irq + softirq + steal;
  const usage = process.cpuUsage();
  return { at: performance.now(), procs, systemBusy: busy, systemTotal: busy + idle + iowait, selfMs: (usage.user + usage.system) / 1000 };
}

/** What each labelled process used between two samples. A process that appeared in between counts from zero. */
export function cpuBetween(start: CpuSample, end: CpuSample): CpuUsage {
  const seconds = (end.at - start.at) / 1000;
  const byLabel: Record<string, number> = {};
  for (const [pid, proc] of end.procs) {
    const before = start.procs.get(pid)?.ticks ?? 0;
    byLabel[proc.label] = (byLabel[proc.label] ?? 0) + (proc.ticks - before);
  }
  const pct = (ticks: number) => Math.round(((ticks / HZ) / seconds) * 1000) / 10;
  const result: Record<string, number> = {};
  for (const [label, ticks] of Object.entries(byLabel)) result[label] = pct(ticks);
  result['bench (load generator + observer)'] = Math.round(((end.selfMs - start.selfMs) / 1000 / seconds) * 1000) / 10;
  const busy = end.systemBusy - start.systemBusy;
  const total = end.systemTotal - start.systemTotal;
  const cores = total > 0 ? Math.max(1, Math.round(total / HZ / seconds)) : 1;
  const oursPct = Object.values(result).reduce((s, v) => s + v, 0);
  const machinePctOfOneCore = pct(busy);
  return {
    seconds: Math.round(seconds * 10) / 10,
    byLabel: Object.fromEntries(Object.entries(result).sort(([, a], [, b]) => b - a)),
    machineBusyPct: total > 0 ? Math.round((busy / total) * 1000) / 10 : Number.NaN,
    otherPct: Math.max(0, Math.round((machinePctOfOneCore - oursPct) * 10) / 10),
    cores,
  };
}

export const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
