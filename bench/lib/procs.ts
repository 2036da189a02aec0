// Child processes of the harness: started pinned to a core (taskset), logged to a file, measured
// from /proc (utime+stime of all their threads), stopped with SIGTERM (SIGKILL after a grace).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** USER_HZ: the unit of /proc/<pid>/stat times. */
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export const hasTaskset = (): boolean => spawnSync('taskset', ['-V']).status === 0;

export interface Proc {
  child: ChildProcess;
  pid: number;
  exited: Promise<number | null>;
}

/** Starts `command` pinned to `core` (when taskset exists), stdout+stderr appended to `logFile`. */
export function startPinned(core: number | null, command: string[], env: NodeJS.ProcessEnv, logFile: string, cwd?: string): Proc {
  const fd = openSync(logFile, 'a');
  const [file, ...args] = core === null ? command : ['taskset', '-c', String(core), ...command];
  const child = spawn(file!, args, { env, cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // taskset execs the command: the pid is the command's own.
  return { child, pid: child.pid!, exited };
}

/** Starts a process that prints one JSON line when ready (the canned server); resolves with that line. */
export function startWithReadyLine<T>(core: number | null, command: string[], env: NodeJS.ProcessEnv): Promise<{ proc: Proc; ready: T }> {
  const [file, ...args] = core === null ? command : ['taskset', '-c', String(core), ...command];
  const child = spawn(file!, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume(); // keep draining whatever else it prints
      try {
        resolve({ proc: { child, pid: child.pid!, exited }, ready: JSON.parse(buffered.slice(0, newline)) as T });
      } catch (error) {
        reject(new Error(`unexpected first line from ${command.join(' ')}: ${buffered}`, { cause: error }));
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`${command.join(' ')} exited (${code}) before it was ready`)));
  });
}

export async function stop(proc: Proc, graceMs = 15_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** CPU time (user + system, every thread) the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / HZ;
}

/** CPU time every core of the machine has spent busy so far (all processes), in ms. */
export function machineBusyMs(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number) as number[];
  return ((user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 1000) / HZ;
}

/** Resident memory in MB. */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : Number.NaN;
}

export const load1 = (): number => Math.round(loadavg()[0]! * 100) / 100;

/** Polls until `ready` resolves true, or fails after `timeoutMs`, or when the process exits. */
export async function waitUntil(proc: Proc, what: string, ready: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (performance.now() < deadline) {
    if (exited) throw new Error(`${what} exited during start-up (code ${proc.child.exitCode}); see its log`);
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms; see its log`);
}
