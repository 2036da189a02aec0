import { inject } from 'vitest';
import { eventually } from './wait.ts';

/** Where the mail catcher the global setup found or started takes mail (`smtp://…`). */
export function smtpUrl(): string {
  return inject('smtpUrl');
}

/** The mail catcher's web inbox (MailDev), whose API lists what arrived. */
export function mailCatcherUrl(): string {
  return inject('mailCatcherUrl');
}

/** The env a service under test needs to send mail to the catcher. */
export const mailEnv = (): { SMTP_URL: string } => ({ SMTP_URL: smtpUrl() });

/** A message as the catcher received it. */
export interface CaughtMail {
  id: string;
  subject: string;
  text: string;
  html: string;
  from: { address: string; name: string }[];
  to: { address: string; name: string }[];
  headers: Record<string, string>;
  /** Its Message-ID header, e.g. `<id@domain>`. */
  messageId: string;
}

/** A new address no other test writes to, so a test reads its own mail only. */
export const uniqueAddress = (label = 'user'): string => `${label}-${crypto.randomUUID()}@mail.test`;

/** Every message the catcher holds for `address` (any of its recipients), oldest first. */
export async function mailTo(address: string): Promise<CaughtMail[]> {
  const response = await fetch(new URL('/api/email', mailCatcherUrl()), { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`the mail catcher answered ${response.status}`);
  const all = (await response.json()) as Omit<CaughtMail, 'messageId'>[];
  return all
    .filter((mail) => mail.to.some((to) => to.address.toLowerCase() === address.toLowerCase()))
    .map((mail) => ({ ...mail, messageId: mail.headers['message-id'] ?? '' }));
}

/** Waits until the catcher holds at least `count` messages for `address`; resolves with them all. */
export const waitForMail = (address: string, count = 1, timeoutMs = 20_000): Promise<CaughtMail[]> =>
  eventually(async () => {
    const mails = await mailTo(address);
    return mails.length >= count && mails;
  }, `${count} e-mail(s) to ${address}`, timeoutMs);
