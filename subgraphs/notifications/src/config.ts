import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4009),
  /** The mail server, e.g. `smtp://user:pass@mail.example.com:587` (`smtps://` for TLS from the start). */
  SMTP_URL: z.url().refine((url) => /^smtps?:$/.test(new URL(url).protocol), 'an smtp:// or smtps:// URL').default('smtp://127.0.0.1:1025'),
  /** The sender of every e-mail; its domain also names the Message-IDs. */
  MAIL_FROM: z.string().regex(/^(.*<)?[^\s@<>]+@[^\s@<>]+>?$/, 'an address, optionally as "Name <address>"').default('Shopgraph <no-reply@shopgraph.dev>'),
  /** Where staff alerts (low stock) go; unset or empty, none are sent. The staff account with this address also sees them in its notifications. */
  STAFF_EMAIL: z.preprocess((value) => (value === '' ? undefined : value), z.email().optional()),
  /** How long connecting to, greeting and waiting on the mail server may each take. */
  SMTP_TIMEOUT_MS: z.coerce.number().int().positive().max(600_000).default(10_000),
  /** Attempts per e-mail before it is FAILED (staff can retry it). */
  NOTIFICATION_MAX_ATTEMPTS: z.coerce.number().int().positive().max(100).default(8),
  /** The first retry's delay, doubling per attempt up to NOTIFICATION_RETRY_MAX_MS. */
  NOTIFICATION_RETRY_BASE_MS: z.coerce.number().int().positive().default(1_000),
  NOTIFICATION_RETRY_MAX_MS: z.coerce.number().int().positive().default(300_000),
  /**
   * How often the sender looks for due e-mails when nothing woke it and it knows of none due: only
   * work a replica that died left behind. Recorded notifications, staff retries, retries and leases it
   * knows of wake it anyway.
   */
  NOTIFICATION_POLL_MS: z.coerce.number().int().positive().max(60_000).default(30_000),
});
export type Config = z.infer<typeof configSchema>;

export const loadNotificationsConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
