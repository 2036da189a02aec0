import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

export type ManagedChild = {
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL if it has not exited after timeoutMs. */
  stop(timeoutMs?: number): Promise<ExitInfo>;
};

export type SpawnManagedOptions = {
  /** stdout and stderr go straight to this file (truncated), so output survives us. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written with the child's pid; removed when it exits. See killStale. */
  pidFile?: string;
};

// Children we started and that are still alive; killed if this process goes away.
const live = new Set<ChildProcess>();
let hooksInstalled = false;

/**
 * Spawns a long-running server that dies with this process: on exit, SIGINT, SIGTERM and
 * SIGHUP every live child gets SIGTERM. (A SIGKILLed parent cannot clean up; pid files plus
 * killStale handle the orphans on the next start.) Rejects if the binary cannot be run.
 */
export async function spawnManaged(
  command: string,
  args: readonly string[],
  opts: SpawnManagedOptions,
): Promise<ManagedChild> {
  installExitHooks();
  const fd = openSync(opts.logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot run ${command}${code === 'ENOENT' ? ': not found on PATH' : ''} (${String(err)})`, {
      cause: err,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${command} started without a pid`);
  live.add(child);
  if (opts.pidFile) writeFileSync(opts.pidFile, `${pid}\n`);

  let running = true;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      if (opts.pidFile) rmSync(opts.pidFile, { force: true });
      resolve({ code, signal });
    });
  });

  return {
    pid,
    exited,
    isRunning: () => running,
    async stop(timeoutMs = 15_000) {
      if (!running) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const child of live) child.kill('SIGTERM');
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, function onSignal() {
      killAll();
      // A listener disables Node's default "exit on signal"; restore it unless someone else
      // (e.g. the launcher's graceful shutdown) also listens and will exit by itself.
      if (process.listenerCount(signal) === 1) process.exit(128 + constants.signals[signal]);
    });
  }
}

/**
 * Stops a server left behind by an earlier run that was SIGKILLed (it would still hold the
 * data dir's lock). Reads the pid from the first line of `pidFile`; only a process whose
 * command line contains `marker` is touched, so a recycled pid of something else is left alone.
 */
export async function killStale(
  pidFile: string,
  marker: string,
  opts: { signal?: NodeJS.Signals; log?: (msg: string) => void } = {},
): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  } catch {
    return; // no pid file: nothing left behind
  }
  if (!Number.isInteger(pid) || pid <= 0 || !commandLineOf(pid)?.includes(marker)) return;
  opts.log?.(`stopping leftover process ${pid} from an earlier run (${pidFile})`);
  signal(pid, opts.signal ?? 'SIGTERM');
  for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) {
    signal(pid, 'SIGKILL');
    for (let waited = 0; waited < 5_000 && isAlive(pid); waited += 100) await sleep(100);
  }
}

function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** True while pid exists and is not a zombie (a container's init may never reap it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat is "pid (comm) S ..."; comm may contain spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Last `lines` lines of a log file, for error messages ('' if unreadable). */
export function tailFile(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** A binary by name on PATH or in Debian's usual directories (/usr/sbin is not on every user's PATH). */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return join(dir, name);
    } catch {
      // keep looking
    }
  }
  return undefined;
}
