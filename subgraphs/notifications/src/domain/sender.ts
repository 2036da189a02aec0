import { formatMoney, isUuid, type EntityManager, type Logger, type Orm, type Runner } from '@shopgraph/kit';
import type { DeliveryState, Money, NotificationKind, SummaryLine } from '../entities/index.ts';
import { orderNumber, TemplateError, type Renderer, type TemplateVariables } from './templates.ts';

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
  /** How often to look for due notifications when nothing woke the sender and it knows of nothing due (another replica's work left behind). */
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

/** What the read model knows about one batch's notifications. */
interface ReadModel {
  orders: Map<string, { user_id: string; lines: SummaryLine[]; total: Money }>;
  products: Map<string, { name: string; sku: string }>;
  contacts: Map<string, { email: string; name: string }>;
  /** The staff account with the staff address, when a LOW_STOCK notification asked. */
  staffUserId: string | null;
}

/** What became of one claimed notification's attempt, to be recorded. */
interface Outcome {
  row: ClaimedRow;
  status: DeliveryState;
  reason: string | null;
  delayMs: number;
}

/** The read model lacks what the notification needs (its event came before the user's or the order's): try again later. */
class NotYetKnown extends Error {}

// Claims due notifications (new, due for a retry, or left SENDING by a sender whose lease ran out):
// each claim counts as an attempt and is committed, with the rendered content, before anything is sent.
const CLAIM = `
  update notification n
     set status = 'SENDING', attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ?), updated_at = now()
   where n.id in (select id from notification where status in ('PENDING', 'SENDING') and next_attempt_at <= now() order by next_attempt_at limit ? for update skip locked)
  returning n.id, n.kind, n.user_id, n.order_id, n.facts, n.subject, n.body_text, n.body_html, n.recipient, n.attempts`;

// When the next notification that is not this batch's is due (a retry, another sender's lease), in ms from now.
const NEXT_DUE = `select (extract(epoch from min(next_attempt_at) - clock_timestamp()) * 1000)::float8 as in_ms from notification where status in ('PENDING', 'SENDING')`;

const RECORD_CONTENT = `
  update notification n set subject = v.subject, body_text = v.body_text, body_html = v.body_html, recipient = v.recipient, user_id = v.user_id, updated_at = now()
    from jsonb_to_recordset(?::jsonb) as v(id uuid, subject text, body_text text, body_html text, recipient text, user_id uuid)
   where n.id = v.id`;

// Unless the row moved on (this sender's lease ran out and another claimed it).
const RECORD_OUTCOMES = `
  update notification n
     set status = v.status, last_error = v.reason, next_attempt_at = now() + make_interval(secs => v.delay_s),
         sent_at = case when v.status = 'SENT' then now() else n.sent_at end, updated_at = now()
    from jsonb_to_recordset(?::jsonb) as v(id uuid, attempts int, status text, reason text, delay_s float8)
   where n.id = v.id and n.status = 'SENDING' and n.attempts = v.attempts`;

/** The shortest wait before looking again when something unclaimed is due already (held by another sender's claim). */
const MIN_WAIT_MS = 50;
/** The wait before looking again after a failed round (the database away). */
const ERROR_WAIT_MS = 1_000;

/**
 * Renders and sends the notifications the consumer recorded, in a loop of its own: woken when the
 * consumer records some or staff retry one, at the next retry or lease it knows of, and otherwise
 * every `pollMs` (other replicas' work that their death left behind). Replicas share the work: a
 * claim skips rows another sender holds.
 *
 * A batch costs two transactions: one claims it, reads the read model, renders, and records the
 * content and every outcome known before sending; the other records what the mail server said.
 * Nothing is due: one small transaction per `pollMs`.
 *
 * One e-mail per notification: the consumer records each event's notification once (its key),
 * and a claim is committed (status SENDING, the attempt counted) before the send, the rendered
 * content and recipient too. What remains is SMTP's own at-least-once window: if this process
 * dies after the server accepted a message and before SENT is recorded, the lease runs out and
 * the message is sent again. Both copies carry the same Message-ID (`<notification id@domain>`),
 * so the second is recognisable as a duplicate (mail stores and clients that dedupe on it show it
 * once), and the window is no wider than one SMTP transaction: a batch's e-mails are sent at once
 * and their outcomes recorded together (which also keeps a batch within one lease).
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

  /** Something is due now (a notification recorded, or retried by staff): look without waiting. */
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
        let waitMs: number;
        try {
          const { claimed, nextDueInMs } = await this.deliverDue(orm.em.fork(), batchSize);
          if (claimed === batchSize) continue;
          waitMs = nextDueInMs === null ? this.options.pollMs : Math.min(this.options.pollMs, Math.max(MIN_WAIT_MS, nextDueInMs));
        } catch (error) {
          // The database away: the rows stay as they are and the next round tries again.
          if (!stopping.signal.aborted) this.log.warn({ err: error }, 'delivering notifications failed; retrying');
          waitMs = Math.min(this.options.pollMs, ERROR_WAIT_MS);
        }
        if (this.woken || stopping.signal.aborted) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
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

  /**
   * Claims up to `limit` due notifications and delivers them; resolves with how many were claimed
   * and when the next one this sender knows of is due (null: none).
   */
  async deliverDue(em: EntityManager, limit: number): Promise<{ claimed: number; nextDueInMs: number | null }> {
    const { rows, settled, sends, nextDueInMs } = await em.transactional(async (tx) => {
      const rows = await tx.execute<ClaimedRow[]>(CLAIM, [this.options.leaseMs / 1000, limit]);
      const ids = rows.map((row) => row.id);
      const [next] = await tx.execute<{ in_ms: number | null }[]>(ids.length ? `${NEXT_DUE} and id not in (${ids.map(() => '?').join(', ')})` : NEXT_DUE, ids);
      return { rows, nextDueInMs: next?.in_ms ?? null, ...(await this.prepare(tx, rows)) };
    });
    this.report(settled);
    const sent = await this.send(sends);
    if (sent.length) await recordOutcomes(em, sent);
    this.report(sent);
    const retries = [...settled, ...sent].filter((outcome) => outcome.status === 'PENDING').map((outcome) => outcome.delayMs);
    const soonest = Math.min(...retries, nextDueInMs ?? Infinity);
    return { claimed: rows.length, nextDueInMs: Number.isFinite(soonest) ? soonest : null };
  }

  /**
   * In the claim's transaction: renders what has no content yet and records it, and settles what
   * needs no send (skipped, failed, to be retried); returns the e-mails to send.
   */
  private async prepare(em: EntityManager, rows: ClaimedRow[]): Promise<{ settled: Outcome[]; sends: { row: ClaimedRow; mail: Mail }[] }> {
    const settled: Outcome[] = [];
    const ready: { row: ClaimedRow; composed: Composed }[] = [];
    const toRender = rows.filter((row) => row.subject === null);
    const known = await this.readModel(em, toRender);
    const rendered: (Composed & { id: string })[] = [];
    for (const row of rows) {
      if (row.subject !== null) {
        ready.push({ row, composed: stored(row) });
        continue;
      }
      try {
        const composed = this.compose(row, known);
        ready.push({ row, composed });
        rendered.push({ id: row.id, ...composed });
      } catch (error) {
        if (error instanceof TemplateError) settled.push(this.failed(row, error.message));
        else if (error instanceof NotYetKnown) settled.push(this.retryLater(row, error.message));
        else settled.push(this.retryLater(row, `rendering failed: ${error instanceof Error ? error.message : String(error)}`));
      }
    }
    // The content (what the user sees in the app) and the addressee, recorded before any send.
    if (rendered.length) {
      await em.execute(RECORD_CONTENT, [
        JSON.stringify(rendered.map((c) => ({ id: c.id, subject: c.subject, body_text: c.text, body_html: c.html, recipient: c.recipient, user_id: c.userId }))),
      ]);
    }
    const emailOff = await turnedOff(em, ready.flatMap(({ composed }) => (composed.recipient !== null && composed.userId !== null ? [composed.userId] : [])));
    const sends: { row: ClaimedRow; mail: Mail }[] = [];
    for (const { row, composed } of ready) {
      if (composed.recipient === null || (composed.userId !== null && emailOff.has(`${composed.userId}:${row.kind}`))) {
        settled.push({ row, status: 'SKIPPED', reason: null, delayMs: 0 });
        continue;
      }
      sends.push({ row, mail: { messageId: `<${row.id}@${this.options.messageIdDomain}>`, to: composed.recipient, subject: composed.subject, text: composed.text, html: composed.html } });
    }
    if (settled.length) await recordOutcomes(em, settled);
    return { settled, sends };
  }

  /** Sends a batch's e-mails at once. A throw of `afterSend` is a crash: nothing of the batch's sends is recorded. */
  private async send(sends: { row: ClaimedRow; mail: Mail }[]): Promise<Outcome[]> {
    let crash: { error: unknown } | undefined;
    const outcomes = await Promise.all(
      sends.map(async ({ row, mail }): Promise<Outcome> => {
        try {
          await this.options.mailer.send(mail);
        } catch (error) {
          return this.retryLater(row, `the mail server refused or could not be reached: ${error instanceof Error ? error.message : String(error)}`);
        }
        try {
          await this.options.afterSend?.(mail);
        } catch (error) {
          crash ??= { error };
        }
        return { row, status: 'SENT', reason: null, delayMs: 0 };
      }),
    );
    if (crash) throw crash.error;
    return outcomes;
  }

  /** The batch's orders, product names and contacts, a statement per table. */
  private async readModel(em: EntityManager, rows: ClaimedRow[]): Promise<ReadModel> {
    const orderRows = await selectIn<{ order_id: string; user_id: string; lines: SummaryLine[]; total: Money }>(
      em,
      'select order_id, user_id, lines, total from order_summary where order_id in',
      rows.flatMap((row) => (row.order_id ? [row.order_id] : [])),
    );
    const orders = new Map(orderRows.map(({ order_id, ...order }) => [order_id, order]));
    const productIds = rows.flatMap((row) => [
      ...(row.order_id ? (orders.get(row.order_id)?.lines.map((line) => line.productId) ?? []) : []),
      ...(typeof row.facts['productId'] === 'string' ? [row.facts['productId']] : []),
    ]);
    const productRows = await selectIn<{ product_id: string; name: string; sku: string }>(em, 'select product_id, name, sku from product_name where product_id in', productIds.filter(isUuid));
    const userIds = rows.flatMap((row) => {
      const userId = row.user_id ?? (row.order_id ? orders.get(row.order_id)?.user_id : undefined);
      return row.kind !== 'LOW_STOCK' && userId ? [userId] : [];
    });
    const contactRows = await selectIn<{ user_id: string; email: string; name: string }>(em, 'select user_id, email, name from user_contact where user_id in', userIds);
    let staffUserId: string | null = null;
    if (this.options.staffEmail && rows.some((row) => row.kind === 'LOW_STOCK')) {
      const [staff] = await em.execute<{ user_id: string }[]>('select user_id from user_contact where lower(email) = lower(?) limit 1', [this.options.staffEmail]);
      staffUserId = staff?.user_id ?? null;
    }
    return {
      orders,
      products: new Map(productRows.map((row) => [row.product_id, { name: row.name, sku: row.sku }])),
      contacts: new Map(contactRows.map((row) => [row.user_id, { email: row.email, name: row.name }])),
      staffUserId,
    };
  }

  /** The variables of a notification from its facts and the read model, rendered. */
  private compose(row: ClaimedRow, known: ReadModel): Composed {
    const variables: TemplateVariables = { ...row.facts };
    let userId = row.user_id;
    if (row.order_id) {
      const order = known.orders.get(row.order_id);
      if (!order) throw new NotYetKnown(`order ${row.order_id} is not known yet (no orders.order.placed seen)`);
      userId ??= order.user_id;
      variables.order = {
        number: orderNumber(row.order_id),
        lines: order.lines.map((line) => ({
          name: known.products.get(line.productId)?.name ?? `Product ${line.productId.slice(0, 8)}`,
          quantity: line.quantity,
          unitPrice: formatMoney(line.unitPrice),
          lineTotal: formatMoney({ amount: line.unitPrice.amount * line.quantity, currency: line.unitPrice.currency }),
        })),
        total: formatMoney(order.total),
      };
    }
    if (typeof row.facts['productId'] === 'string') {
      const productId = row.facts['productId'];
      variables.product = known.products.get(productId) ?? { name: `Product ${productId.slice(0, 8)}`, sku: 'unknown' };
    }
    let recipient: string | null;
    if (row.kind === 'LOW_STOCK') {
      // For staff: the configured address, and the staff account that has it (for the in-app list).
      recipient = this.options.staffEmail ?? null;
      if (recipient) userId = known.staffUserId;
    } else {
      if (!userId) throw new TemplateError(`${row.kind} names no user`);
      const contact = known.contacts.get(userId);
      if (!contact) throw new NotYetKnown(`user ${userId} is not known yet (no account.user.registered seen)`);
      variables.customer = { name: contact.name, email: contact.email };
      recipient = contact.email;
    }
    return { userId, recipient, ...this.options.renderer.render(row.kind, variables) };
  }

  /** Another attempt after a backoff, or FAILED once the attempts are used up. */
  private retryLater(row: ClaimedRow, reason: string): Outcome {
    if (row.attempts >= this.options.maxAttempts) return this.failed(row, `${reason} (after ${row.attempts} attempts)`);
    return { row, status: 'PENDING', reason, delayMs: Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (row.attempts - 1)) };
  }

  private failed(row: ClaimedRow, reason: string): Outcome {
    return { row, status: 'FAILED', reason, delayMs: 0 };
  }

  /** Logs recorded outcomes and hands them to `onDelivery`. */
  private report(outcomes: Outcome[]): void {
    for (const { row, status, reason, delayMs } of outcomes) {
      if (status === 'FAILED') this.log.warn({ notification: row.id, kind: row.kind, attempts: row.attempts, reason }, 'notification FAILED');
      else if (reason) this.log.info({ notification: row.id, kind: row.kind, attempts: row.attempts, reason, retryInMs: delayMs }, 'notification not sent; retrying');
      try {
        this.options.onDelivery?.({ id: row.id, kind: row.kind, status, attempts: row.attempts, ...(reason ? { error: reason } : {}) });
      } catch (error) {
        this.log.warn({ err: error }, 'onDelivery hook failed');
      }
    }
  }
}

/** Records the outcomes of this sender's attempts in one statement. */
async function recordOutcomes(em: EntityManager, outcomes: Outcome[]): Promise<void> {
  await em.execute(RECORD_OUTCOMES, [
    JSON.stringify(outcomes.map(({ row, status, reason, delayMs }) => ({ id: row.id, attempts: row.attempts, status, reason, delay_s: delayMs / 1000 }))),
  ]);
}

const stored = (row: ClaimedRow): Composed => ({ userId: row.user_id, recipient: row.recipient, subject: row.subject!, text: row.body_text ?? '', html: row.body_html ?? '' });

/** The (user, kind) pairs among these users' whose e-mail is turned off. */
async function turnedOff(em: EntityManager, userIds: string[]): Promise<Set<string>> {
  const rows = await selectIn<{ user_id: string; kind: NotificationKind }>(em, 'select user_id, kind from notification_preference where not email and user_id in', userIds);
  return new Set(rows.map((row) => `${row.user_id}:${row.kind}`));
}

/** `sql` followed by the list of `ids` (each once); nothing asked when there are none. */
async function selectIn<T>(em: EntityManager, sql: string, ids: string[]): Promise<T[]> {
  const unique = [...new Set(ids)];
  return unique.length ? em.execute<T[]>(`${sql} (${unique.map(() => '?').join(', ')})`, unique) : [];
}
