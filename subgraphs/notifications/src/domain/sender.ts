import { type EntityManager, type Logger, type Orm, type Runner } from '@shopgraph/kit';
import type { DeliveryState, Money, NotificationKind, SummaryLine } from '../entities/index.ts';
import { formatMoney, orderNumber, TemplateError, type Renderer, type TemplateVariables } from './templates.ts';

/** An e-mail as the sender hands it to the mail server. */
export interface Mail {
  /** Deterministic per notification (see Sender). */
  messageId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends e-mail (the SMTP client in production); rejects when the server did not accept it. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): Promise<void>;
}

/** What became of one attempt at a notification (for tests and logs). */
export interface DeliveryOutcome {
  id: string;
  kind: NotificationKind;
  status: DeliveryState;
  attempts: number;
  error?: string;
}

export interface SenderOptions {
  mailer: Mailer;
  renderer: Renderer;
  logger: Logger;
  /** The domain of every Message-ID (the sender address's). */
  messageIdDomain: string;
  /** Where staff alerts go; without it they are not sent. */
  staffEmail?: string | undefined;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  pollMs: number;
  /** How long a claimed notification is this sender's: after it, a sender that died is presumed gone and another takes it. */
  leaseMs: number;
  /** Notifications claimed at once (default 20). */
  batchSize?: number;
  onDelivery?: (outcome: DeliveryOutcome) => void;
  /** Test seam: runs after the mail server accepted an e-mail, before that is recorded; a throw is a crash at that point. */
  afterSend?: (mail: Mail) => Promise<void> | void;
}

interface ClaimedRow {
  id: string;
  kind: NotificationKind;
  user_id: string | null;
  order_id: string | null;
  facts: Record<string, unknown>;
  subject: string | null;
  body_text: string | null;
  body_html: string | null;
  recipient: string | null;
  attempts: number;
}

/** Rendered content and whom it goes to. */
interface Composed {
  userId: string | null;
  recipient: string | null;
  subject: string;
  text: string;
  html: string;
}

/** The read model lacks what the notification needs (its event came before the user's or the order's): try again later. */
class NotYetKnown extends Error {}

// Claims due notifications (new, due for a retry, or left SENDING by a sender whose lease ran out):
// each claim counts as an attempt and is committed before anything is sent.
const CLAIM = `
  update notification n
     set status = 'SENDING', attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ?), updated_at = now()
   where n.id in (select id from notification where status in ('PENDING', 'SENDING') and next_attempt_at <= now() order by next_attempt_at limit ? for update skip locked)
  returning n.id, n.kind, n.user_id, n.order_id, n.facts, n.subject, n.body_text, n.body_html, n.recipient, n.attempts`;

/**
 * Renders and sends the notifications the consumer recorded, in a loop of its own (woken when the
 * consumer records some, else every `pollMs`). Replicas share the work: a claim skips rows another
 * sender holds.
 *
 * One e-mail per notification: the consumer records each event's notification once (its key),
 * and a claim is committed (status SENDING, the attempt counted) before the send, the rendered
 * content and recipient too. What remains is SMTP's own at-least-once window: if this process
 * dies after the server accepted the message and before SENT is recorded, the lease runs out and
 * the message is sent again. Both copies carry the same Message-ID (`<notification id@domain>`),
 * so the second is recognisable as a duplicate (mail stores and clients that dedupe on it show it
 * once), and the window is no wider than one SMTP transaction of one message.
 */
export class Sender {
  private readonly options: SenderOptions;
  private readonly log: Logger;
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(options: SenderOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'sender' });
  }

  /** Something is due now (a notification recorded, or retried by staff): look without waiting for the poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  start(orm: Orm): Runner {
    const stopping = new AbortController();
    const batchSize = this.options.batchSize ?? 20;
    stopping.signal.addEventListener('abort', () => this.wakeUp?.(), { once: true });
    const loop = (async () => {
      while (!stopping.signal.aborted) {
        this.woken = false;
        let claimed = 0;
        try {
          claimed = await this.deliverDue(orm.em.fork(), batchSize);
        } catch (error) {
          // The database away: the rows stay as they are and the next round tries again.
          if (!stopping.signal.aborted) this.log.warn({ err: error }, 'delivering notifications failed; retrying');
        }
        if (claimed === batchSize || this.woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.pollMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = undefined;
      }
    })();
    return {
      async stop() {
        stopping.abort();
        await loop;
      },
    };
  }

  /** Claims up to `limit` due notifications and delivers each; resolves with how many were claimed. */
  async deliverDue(em: EntityManager, limit: number): Promise<number> {
    const rows = await em.execute<ClaimedRow[]>(CLAIM, [this.options.leaseMs / 1000, limit]);
    for (const row of rows) await this.deliver(em, row);
    return rows.length;
  }

  private async deliver(em: EntityManager, row: ClaimedRow): Promise<void> {
    let composed: Composed;
    try {
      composed = row.subject !== null ? stored(row) : await this.compose(em, row);
    } catch (error) {
      if (error instanceof TemplateError) return this.finish(em, row, 'FAILED', error.message);
      if (error instanceof NotYetKnown) return this.retryLater(em, row, error.message);
      throw error;
    }
    const emailWanted = composed.recipient !== null && (composed.userId === null || (await wantsEmail(em, composed.userId, row.kind)));
    if (row.subject === null) {
      // The content (what the user sees in the app) and the addressee, recorded before any send.
      const recorded = await em.execute<{ id: string }[]>(
        `update notification set subject = ?, body_text = ?, body_html = ?, recipient = ?, user_id = ?, updated_at = now() where id = ? and status = 'SENDING' and attempts = ? returning id`,
        [composed.subject, composed.text, composed.html, composed.recipient, composed.userId, row.id, row.attempts],
      );
      if (!recorded.length) return; // the lease ran out and another sender has it
    }
    if (!emailWanted) return this.finish(em, row, 'SKIPPED', null);

    const mail: Mail = { messageId: `<${row.id}@${this.options.messageIdDomain}>`, to: composed.recipient!, subject: composed.subject, text: composed.text, html: composed.html };
    try {
      await this.options.mailer.send(mail);
    } catch (error) {
      return this.retryLater(em, row, `the mail server refused or could not be reached: ${error instanceof Error ? error.message : String(error)}`);
    }
    await this.options.afterSend?.(mail);
    await this.finish(em, row, 'SENT', null);
  }

  /** The variables of a notification from its facts and the read model, rendered. */
  private async compose(em: EntityManager, row: ClaimedRow): Promise<Composed> {
    const variables: TemplateVariables = { ...row.facts };
    let userId = row.user_id;
    if (row.order_id) {
      const [order] = await em.execute<{ user_id: string; lines: SummaryLine[]; total: Money }[]>('select user_id, lines, total from order_summary where order_id = ?', [row.order_id]);
      if (!order) throw new NotYetKnown(`order ${row.order_id} is not known yet (no orders.order.placed seen)`);
      userId ??= order.user_id;
      const names = await productNames(em, order.lines.map((line) => line.productId));
      variables.order = {
        number: orderNumber(row.order_id),
        lines: order.lines.map((line) => ({
          name: names.get(line.productId)?.name ?? `Product ${line.productId.slice(0, 8)}`,
          quantity: line.quantity,
          unitPrice: formatMoney(line.unitPrice),
          lineTotal: formatMoney({ amount: line.unitPrice.amount * line.quantity, currency: line.unitPrice.currency }),
        })),
        total: formatMoney(order.total),
      };
    }
    if (typeof row.facts['productId'] === 'string') {
      const productId = row.facts['productId'];
      const product = (await productNames(em, [productId])).get(productId);
      variables.product = product ?? { name: `Product ${productId.slice(0, 8)}`, sku: 'unknown' };
    }
    let recipient: string | null;
    if (row.kind === 'LOW_STOCK') {
      // For staff: the configured address, and the staff account that has it (for the in-app list).
      recipient = this.options.staffEmail ?? null;
      if (recipient) {
        const [staff] = await em.execute<{ user_id: string }[]>('select user_id from user_contact where lower(email) = lower(?) limit 1', [recipient]);
        userId = staff?.user_id ?? null;
      }
    } else {
      if (!userId) throw new TemplateError(`${row.kind} names no user`);
      const [contact] = await em.execute<{ email: string; name: string }[]>('select email, name from user_contact where user_id = ?', [userId]);
      if (!contact) throw new NotYetKnown(`user ${userId} is not known yet (no account.user.registered seen)`);
      variables.customer = { name: contact.name, email: contact.email };
      recipient = contact.email;
    }
    return { userId, recipient, ...this.options.renderer.render(row.kind, variables) };
  }

  /** Another attempt after a backoff, or FAILED once the attempts are used up. */
  private retryLater(em: EntityManager, row: ClaimedRow, reason: string): Promise<void> {
    if (row.attempts >= this.options.maxAttempts) return this.finish(em, row, 'FAILED', `${reason} (after ${row.attempts} attempts)`);
    const delayMs = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (row.attempts - 1));
    return this.record(em, row, 'PENDING', reason, delayMs);
  }

  private finish(em: EntityManager, row: ClaimedRow, status: 'SENT' | 'SKIPPED' | 'FAILED', reason: string | null): Promise<void> {
    return this.record(em, row, status, reason, 0);
  }

  /** Records the outcome of this sender's attempt, unless its lease ran out and the row moved on. */
  private async record(em: EntityManager, row: ClaimedRow, status: DeliveryState, reason: string | null, delayMs: number): Promise<void> {
    await em.execute(
      `update notification set status = ?, last_error = ?, next_attempt_at = now() + make_interval(secs => ?), sent_at = case when ? = 'SENT' then now() else sent_at end, updated_at = now()
        where id = ? and status = 'SENDING' and attempts = ?`,
      [status, reason, delayMs / 1000, status, row.id, row.attempts],
    );
    if (status === 'FAILED') this.log.warn({ notification: row.id, kind: row.kind, attempts: row.attempts, reason }, 'notification FAILED');
    else if (reason) this.log.info({ notification: row.id, kind: row.kind, attempts: row.attempts, reason, retryInMs: delayMs }, 'notification not sent; retrying');
    try {
      this.options.onDelivery?.({ id: row.id, kind: row.kind, status, attempts: row.attempts, ...(reason ? { error: reason } : {}) });
    } catch (error) {
      this.log.warn({ err: error }, 'onDelivery hook failed');
    }
  }
}

const stored = (row: ClaimedRow): Composed => ({ userId: row.user_id, recipient: row.recipient, subject: row.subject!, text: row.body_text ?? '', html: row.body_html ?? '' });

async function wantsEmail(em: EntityManager, userId: string, kind: NotificationKind): Promise<boolean> {
  const [preference] = await em.execute<{ email: boolean }[]>('select email from notification_preference where user_id = ? and kind = ?', [userId, kind]);
  return preference?.email ?? true;
}

async function productNames(em: EntityManager, ids: string[]): Promise<Map<string, { name: string; sku: string }>> {
  if (!ids.length) return new Map();
  const rows = await em.execute<{ product_id: string; name: string; sku: string }[]>(`select product_id, name, sku from product_name where product_id in (${ids.map(() => '?').join(', ')})`, ids);
  return new Map(rows.map((row) => [row.product_id, { name: row.name, sku: row.sku }]));
}
