import nodemailer from 'nodemailer';
import type { Mail, Mailer } from '../domain/sender.ts';

export interface SmtpMailerOptions {
  /** `smtp://[user:pass@]host:port` or `smtps://…`. */
  url: string;
  /** The From header, e.g. `Shopgraph <no-reply@shopgraph.dev>`. */
  from: string;
  /** For connecting, the server's greeting and every wait on its socket (nodemailer waits minutes by default). */
  timeoutMs: number;
}

/** Sends over SMTP with nodemailer, a connection per message (nothing to go stale between sends). */
export function smtpMailer({ url, from, timeoutMs }: SmtpMailerOptions): Mailer {
  const transport = nodemailer.createTransport({ url, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs });
  return {
    async send({ messageId, to, subject, text, html }: Mail) {
      await transport.sendMail({ from, to, subject, text, html, messageId });
    },
    async close() {
      transport.close();
    },
  };
}
