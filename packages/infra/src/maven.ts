import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errorText, type Log } from './util.ts';

const run = promisify(execFile);

/** Maven ran and failed (its message is Maven's first [ERROR] line): that version did not resolve. */
export class MavenError extends Error {
  override name = 'MavenError';
}

/**
 * Runs `mvn -q -B -U -f <pom> ...args`. If mvn is not installed, throws "mvn not found: <ifMissing>";
 * if Maven fails, throws a MavenError.
 */
export async function runMaven(pom: string, args: string[], ifMissing: string): Promise<void> {
  try {
    // -U: an earlier failed lookup (e.g. a network blip) is otherwise cached by Maven for a day.
    await run('mvn', ['-q', '-B', '-U', '-f', pom, ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`mvn not found: ${ifMissing}`, { cause: err });
    throw new MavenError(firstMavenError(`${e.stdout ?? ''}${e.stderr ?? ''}`) ?? errorText(err), { cause: err });
  }
}

/**
 * Returns the first of `versions` already in the cache, or else downloads them in order until
 * one works: `download` fills a staging folder private to this process and returns the folder to
 * install (the staging folder or one inside it). Only a MavenError moves on to the next version;
 * any other error is thrown as it is.
 */
export async function fetchCached(opts: {
  /** Names the artifact in messages ("Kafka"); log lines start with its lower case ("kafka: "). */
  what: string;
  /** For the error when every version failed: "could not <action> Kafka from Maven Central". */
  action: string;
  /** For the log line on success: "kafka: 4.4.0 <done> in 1234ms". */
  done: string;
  versions: readonly string[];
  /** The installed folder of a version (absolute). */
  dirOf(version: string): string;
  log: Log;
  download(version: string, staging: string): Promise<string>;
}): Promise<{ version: string; dir: string }> {
  const prefix = opts.what.toLowerCase();
  // The marker is written last, so a half-finished download is never mistaken for a cache hit.
  const cached = opts.versions.find((v) => existsSync(join(opts.dirOf(v), '.complete')));
  if (cached) return { version: cached, dir: opts.dirOf(cached) };

  const failures: string[] = [];
  for (const version of opts.versions) {
    const dir = opts.dirOf(version);
    const staging = `${dir}.tmp-${process.pid}`; // private to this process: concurrent runs do not collide
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    const started = Date.now();
    try {
      let ready: string;
      try {
        ready = await opts.download(version, staging);
      } catch (err) {
        if (!(err instanceof MavenError)) throw err; // not a matter of the version: an older release would fail the same way
        failures.push(`${version}: ${err.message}`);
        opts.log(`${prefix}: ${version} did not resolve, trying an older release`);
        continue;
      }
      install(ready, dir);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    opts.log(`${prefix}: ${version} ${opts.done} in ${Date.now() - started}ms`);
    return { version, dir };
  }
  throw new Error(`could not ${opts.action} ${opts.what} from Maven Central (tried ${opts.versions.join(', ')}):\n${failures.join('\n')}`);
}

/** Marks `ready` complete and moves it to `dir`, unless another process got there first. */
function install(ready: string, dir: string): void {
  writeFileSync(join(ready, '.complete'), `${new Date().toISOString()}\n`);
  // Another process finished the same download first (and may be running from it): use theirs.
  if (existsSync(join(dir, '.complete'))) return;
  rmSync(dir, { recursive: true, force: true }); // an interrupted earlier attempt
  try {
    renameSync(ready, dir);
  } catch (err) {
    if (!existsSync(join(dir, '.complete'))) throw err; // lost a race to another process: fine
  }
}

/** Maven's first [ERROR] line names the cause; the following ones are boilerplate. */
function firstMavenError(output: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- Maven colours output even with -B
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  return lines.find((line) => /^\[ERROR\] \S/.test(line))?.trim();
}
