import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from './paths.ts';
import { canConnect, freePorts } from './ports.ts';
import { killStale, spawnManaged, tailFile } from './process.ts';
import { errorText, noop, redactUrl, type Log } from './util.ts';

export type MailCatcherHandle = {
  /** Where to send mail: `smtp://127.0.0.1:<port>`. */
  smtpUrl: string;
  /** The web inbox, whose API (`/api/email`) lists what arrived. */
  inboxUrl: string;
  /** Stops the catcher if this call started it; a no-op for one found running. */
  stop(): Promise<void>;
};

/**
 * Finds or starts a development mail catcher (MailDev, from npm): a real SMTP server that keeps
 * every message it receives and shows it in a web inbox with an HTTP API.
 * 1. MAIL_CATCHER_URL (its web inbox) if set, with SMTP_URL (default: its host, port 1025);
 *    if the inbox does not answer we throw rather than start another.
 * 2. Otherwise MailDev as a child process on free loopback ports, messages kept in memory and
 *    in `dataDir`, dying with us.
 */
export async function ensureMailCatcher(opts: { dataDir: string; log?: Log }): Promise<MailCatcherHandle> {
  const log = opts.log ?? noop;
  const fromEnv = process.env.MAIL_CATCHER_URL;
  if (fromEnv) {
    try {
      await pingMailCatcher(fromEnv);
    } catch (err) {
      throw new Error(
        `MAIL_CATCHER_URL is set (${redactUrl(fromEnv)}) but no mail catcher answers there: ${errorText(err)}. ` +
          'Start it, fix MAIL_CATCHER_URL, or unset it to start one.',
        { cause: err },
      );
    }
    const smtpUrl = process.env.SMTP_URL ?? `smtp://${new URL(fromEnv).hostname}:1025`;
    log(`mail: using the catcher at ${redactUrl(fromEnv)} (SMTP ${redactUrl(smtpUrl)})`);
    return { smtpUrl, inboxUrl: fromEnv, stop: async () => {} };
  }
  return startMailCatcher({ dataDir: opts.dataDir, log });
}

/** MailDev's entry script, from the installed package (a dev dependency of the repository). */
const maildevBin = (): string => join(repoRoot(), 'node_modules/maildev/dist/bin/maildev.js');

/** Starts MailDev with this process's Node on free loopback ports (SMTP and web); resolves once both answer. */
export async function startMailCatcher(opts: { dataDir: string; log?: Log }): Promise<MailCatcherHandle> {
  const log = opts.log ?? noop;
  const dataDir = resolve(opts.dataDir);
  const mailDir = join(dataDir, 'mail');
  mkdirSync(mailDir, { recursive: true });
  const pidFile = join(dataDir, 'maildev.pid');
  const logFile = join(dataDir, 'maildev.log');
  await killStale(pidFile, 'maildev', { log });

  const ports = await freePorts(2);
  const smtpPort = ports[0]!;
  const webPort = ports[1]!;
  const started = Date.now();
  const child = await spawnManaged(
    process.execPath,
    [maildevBin(), '--smtp', String(smtpPort), '--ip', '127.0.0.1', '--web', String(webPort), '--web-ip', '127.0.0.1', '--mail-directory', mailDir, '--silent'],
    { logFile, pidFile, cwd: dataDir },
  );
  const inboxUrl = `http://127.0.0.1:${webPort}`;
  for (const deadline = Date.now() + 20_000; ; ) {
    if (!child.isRunning()) throw new Error(`maildev exited during start-up; ${logFile}:\n${tailFile(logFile)}`);
    try {
      await pingMailCatcher(inboxUrl);
      if (!(await canConnect('127.0.0.1', smtpPort, 500))) throw new Error(`nothing listens on SMTP port ${smtpPort} yet`);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await child.stop(2000);
        throw new Error(`maildev did not answer within 20s (${errorText(err)}); ${logFile}:\n${tailFile(logFile)}`, { cause: err });
      }
      await sleep(100);
    }
  }
  log(`mail: maildev ready in ${Date.now() - started}ms (SMTP 127.0.0.1:${smtpPort}, inbox ${inboxUrl})`);
  return {
    smtpUrl: `smtp://127.0.0.1:${smtpPort}`,
    inboxUrl,
    stop: async () => {
      await child.stop(5000);
    },
  };
}

/** Throws unless a MailDev inbox answers its health check at `url`. */
export async function pingMailCatcher(url: string, timeoutMs = 2000): Promise<void> {
  const response = await fetch(new URL('/api/healthz', url), { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`/api/healthz answered ${response.status}`);
}
