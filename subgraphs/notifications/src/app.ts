import { runService, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { smtpMailer } from './clients/mailer.client.ts';
import { notificationsContext } from './context.ts';
import { Sender, type DeliveryOutcome, type Mail, type Mailer } from './domain/sender.ts';
import { defaultTemplates, Renderer, type Templates } from './domain/templates.ts';
import { entities } from './entities/index.ts';
import { notifyHandlers, READ_MODEL_ONLY } from './events/notify.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Sees what became of every message the consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
  /** Sees what became of every attempt to deliver a notification. */
  onDelivery?: (outcome: DeliveryOutcome) => void;
  /** Replaces templates (tests: one that uses a variable nobody provides). */
  templates?: Partial<Templates>;
  /** Sends instead of SMTP. */
  mailer?: Mailer;
  /** Runs after the mail server accepted an e-mail, before that is recorded; a throw is a crash at that point. */
  afterSend?: (mail: Mail) => Promise<void> | void;
}

/**
 * Records notifications from the events of accounts, orders, shipping and inventory, and sends
 * them by e-mail from a sender loop beside the consumer. The mail server is not a readiness check:
 * while it is away e-mails wait (retried with backoff) and everything else is served.
 */
export async function createNotificationsApp({ config, logger, verifier, onQuery, onMessage, onDelivery, templates, mailer, afterSend }: Deps): Promise<Service> {
  const mail = mailer ?? smtpMailer({ url: config.SMTP_URL, from: config.MAIL_FROM, timeoutMs: config.SMTP_TIMEOUT_MS });
  const sender = new Sender({
    mailer: mail,
    renderer: new Renderer({ ...defaultTemplates, ...templates }),
    logger,
    messageIdDomain: config.MAIL_FROM.replace(/^.*@/, '').replace(/>$/, ''),
    staffEmail: config.STAFF_EMAIL,
    maxAttempts: config.NOTIFICATION_MAX_ATTEMPTS,
    retryBaseMs: config.NOTIFICATION_RETRY_BASE_MS,
    retryMaxMs: config.NOTIFICATION_RETRY_MAX_MS,
    pollMs: config.NOTIFICATION_POLL_MS,
    // Past every timeout of one send (connect, greeting, the message), with room to record it.
    leaseMs: config.SMTP_TIMEOUT_MS * 3 + 5_000,
    onDelivery,
    afterSend,
  });
  let service: Service;
  try {
    service = await runService({
      name: 'notifications',
      config,
      logger,
      verifier,
      schema: new URL('../schema.graphql', import.meta.url),
      resolvers,
      entities,
      migrations,
      onQuery,
      workers: [({ orm }) => sender.start(orm)],
      consumers: { notify: notifyHandlers },
      onMessage: (outcome) => {
        // What the consumer committed may be due now.
        if (outcome.result === 'processed' && !READ_MODEL_ONLY.has(outcome.type ?? '')) sender.wake();
        onMessage?.(outcome);
      },
      context: notificationsContext(sender),
    });
  } catch (error) {
    await mail.close();
    throw error;
  }
  return { ...service, close: () => service.close().finally(() => mail.close()) };
}
