import type { EventData } from '@shopgraph/events';
import { DomainError, isUuid, stage, upsertStage, type EntityManager } from '@shopgraph/kit';
import { NOTIFICATION_KINDS, type DeliveryState, type NotificationKind } from '../entities/index.ts';

/** A consumer batch's product names, written in one statement (the sender reads them after commit). */
const productNames = upsertStage<[productId: string, sku: string, name: string]>('product_name', ['product_id', 'sku', 'name']);

/** A notification as the API shows it (rendered ones only reach users). */
export interface NotificationView {
  id: string;
  kind: NotificationKind;
  userId: string | null;
  subject: string | null;
  bodyText: string | null;
  recipient: string | null;
  status: DeliveryState;
  attempts: number;
  lastError: string | null;
  sentAt: Date | null;
  readAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Page<T> {
  nodes: { cursor: string; node: T }[];
  hasNextPage: boolean;
  totalCount: number;
}

export interface Preference {
  kind: NotificationKind;
  email: boolean;
}

/** What an event asks to be notified: the kind, whom (or which order's customer) and the facts the template needs. */
export interface NotificationRequest {
  kind: NotificationKind;
  userId?: string | null;
  orderId?: string | null;
  facts?: Record<string, unknown>;
}

interface NotificationRow {
  id: string;
  kind: NotificationKind;
  user_id: string | null;
  subject: string | null;
  body_text: string | null;
  recipient: string | null;
  status: DeliveryState;
  attempts: number;
  last_error: string | null;
  sent_at: Date | null;
  read_at: Date | null;
  created_at: Date;
  updated_at: Date;
  /** The times as Postgres writes them (to the microsecond), for cursors. */
  created_key: string;
  updated_key: string;
}

const COLUMNS = 'id, kind, user_id, subject, body_text, recipient, status, attempts, last_error, sent_at, read_at, created_at, updated_at, created_at::text as created_key, updated_at::text as updated_key';

const toView = (row: NotificationRow): NotificationView => ({
  id: row.id,
  kind: row.kind,
  userId: row.user_id,
  subject: row.subject,
  bodyText: row.body_text,
  recipient: row.recipient,
  status: row.status,
  attempts: row.attempts,
  lastError: row.last_error,
  sentAt: row.sent_at,
  readAt: row.read_at,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

/** Pages hold at most this many. */
export const MAX_PAGE = 100;
const MAX_MARK = 100;

/** Cursor over (time, id), newest first, the time as Postgres wrote it (microseconds, which a Date would lose); opaque to clients. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

const POSTGRES_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/;

export function decodeCursor(cursor: string): { at: string; id: string } | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && POSTGRES_TIME.test(value[0]) && typeof value[1] === 'string' && isUuid(value[1])) {
      return { at: value[0], id: value[1] };
    }
  } catch {
    // not a cursor of ours
  }
  return null;
}

const pageSize = (first: number): number => {
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) throw new DomainError('INVALID_PAGE', `first must be between 0 and ${MAX_PAGE}`, ['first']);
  return first;
};

/**
 * Business rules of notifications; the only code that records them and changes what users see.
 * The event side (`userRegistered`, `notify`…) runs in the consumer's transaction, next to its
 * processed-message row; the sender (see sender.ts) renders and sends what is recorded here.
 */
export class NotificationsService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** Keeps the user's address and name, and welcomes them. */
  async userRegistered(eventId: string, user: EventData<'account.user.registered'>): Promise<void> {
    await this.em.execute(
      'insert into user_contact (user_id, email, name) values (?, ?, ?) on conflict (user_id) do update set email = excluded.email, name = excluded.name',
      [user.userId.toLowerCase(), user.email, user.name],
    );
    await this.notify(eventId, { kind: 'WELCOME', userId: user.userId });
  }

  /** Keeps what an order is (whose, which lines, what total) for the e-mails about it. */
  async orderPlaced(order: EventData<'orders.order.placed'>): Promise<void> {
    await this.em.execute('insert into order_summary (order_id, user_id, lines, total) values (?, ?, ?, ?) on conflict (order_id) do nothing', [
      order.orderId.toLowerCase(),
      order.userId.toLowerCase(),
      JSON.stringify(order.lines.map(({ productId, quantity, unitPrice }) => ({ productId: productId.toLowerCase(), quantity, unitPrice }))),
      JSON.stringify(order.total),
    ]);
  }

  /** Keeps what a product is called (in a consumer's transaction). */
  productChanged(product: EventData<'catalog.product.changed'>): void {
    stage(this.em, productNames, [product.productId.toLowerCase(), product.sku, product.name]);
  }

  /**
   * Records a notification to be rendered and sent, once per event and kind: a second delivery of
   * the event (or a replayed dead letter) finds its key and adds nothing.
   */
  async notify(eventId: string, request: NotificationRequest): Promise<void> {
    await this.em.execute(
      'insert into notification (id, key, kind, user_id, order_id, facts) values (?, ?, ?, ?, ?, ?) on conflict (key) do nothing',
      [crypto.randomUUID(), `${eventId}:${request.kind}`, request.kind, request.userId?.toLowerCase() ?? null, request.orderId?.toLowerCase() ?? null, JSON.stringify(request.facts ?? {})],
    );
  }

  /** A user's rendered notifications, newest first, with how many there are and how many are unread. */
  async ofUser(userId: string, first: number, after?: string | null): Promise<Page<NotificationView> & { unreadCount: number }> {
    const limit = pageSize(first);
    const user = userId.toLowerCase();
    const cursor = after ? decodeCursor(after) : null;
    if (after && !cursor) throw new DomainError('INVALID_CURSOR', 'after is not a cursor of this list', ['after']);
    const rows = await this.em.execute<NotificationRow[]>(
      `select ${COLUMNS} from notification where user_id = ? and subject is not null ${cursor ? 'and (created_at, id) < (?::timestamptz, ?)' : ''} order by created_at desc, id desc limit ?`,
      [user, ...(cursor ? [cursor.at, cursor.id] : []), limit + 1],
    );
    const [counts] = await this.em.execute<{ total: number; unread: number }[]>(
      'select count(*)::int as total, (count(*) filter (where read_at is null))::int as unread from notification where user_id = ? and subject is not null',
      [user],
    );
    return { ...page(rows, limit, (row) => row.created_key), totalCount: counts!.total, unreadCount: counts!.unread };
  }

  /** Marks the user's own notifications among `ids` read (the first time only); returns them and what is left unread. */
  async markRead(userId: string, ids: readonly string[]): Promise<{ notifications: NotificationView[]; unreadCount: number }> {
    if (ids.length > MAX_MARK) throw new DomainError('TOO_MANY_IDS', `At most ${MAX_MARK} notifications at a time`, ['input', 'ids']);
    const user = userId.toLowerCase();
    const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
    if (valid.length) await this.em.execute(`update notification set read_at = now() where user_id = ? and read_at is null and id in (${valid.map(() => '?').join(', ')})`, [user, ...valid]);
    const rows = valid.length
      ? await this.em.execute<NotificationRow[]>(`select ${COLUMNS} from notification where user_id = ? and subject is not null and id in (${valid.map(() => '?').join(', ')}) order by created_at desc, id desc`, [user, ...valid])
      : [];
    const [unread] = await this.em.execute<{ n: number }[]>('select count(*)::int as n from notification where user_id = ? and subject is not null and read_at is null', [user]);
    return { notifications: rows.map(toView), unreadCount: unread!.n };
  }

  /** The user's choice for every kind (e-mail unless turned off). */
  async preferences(userId: string): Promise<Preference[]> {
    const rows = await this.em.execute<{ kind: NotificationKind; email: boolean }[]>('select kind, email from notification_preference where user_id = ?', [userId.toLowerCase()]);
    const chosen = new Map(rows.map((row) => [row.kind, row.email]));
    return NOTIFICATION_KINDS.map((kind) => ({ kind, email: chosen.get(kind) ?? true }));
  }

  async updatePreference(userId: string, kind: NotificationKind, email: boolean): Promise<Preference[]> {
    await this.em.execute(
      'insert into notification_preference (user_id, kind, email, updated_at) values (?, ?, ?, now()) on conflict (user_id, kind) do update set email = excluded.email, updated_at = now()',
      [userId.toLowerCase(), kind, email],
    );
    return this.preferences(userId);
  }

  /** Staff: FAILED notifications, most recently failed first. */
  async failed(first: number, after?: string | null): Promise<Page<NotificationView>> {
    const limit = pageSize(first);
    const cursor = after ? decodeCursor(after) : null;
    if (after && !cursor) throw new DomainError('INVALID_CURSOR', 'after is not a cursor of this list', ['after']);
    const rows = await this.em.execute<NotificationRow[]>(
      `select ${COLUMNS} from notification where status = 'FAILED' ${cursor ? 'and (updated_at, id) < (?::timestamptz, ?)' : ''} order by updated_at desc, id desc limit ?`,
      [...(cursor ? [cursor.at, cursor.id] : []), limit + 1],
    );
    const [count] = await this.em.execute<{ n: number }[]>(`select count(*)::int as n from notification where status = 'FAILED'`);
    return { ...page(rows, limit, (row) => row.updated_key), totalCount: count!.n };
  }

  /** Staff: a FAILED notification goes back to the sender, with its attempts anew. */
  async retry(id: string): Promise<NotificationView> {
    const notFound = new DomainError('NOTIFICATION_NOT_FOUND', 'No such notification', ['input', 'id']);
    if (!isUuid(id)) throw notFound;
    const [retried] = await this.em.execute<NotificationRow[]>(
      `update notification set status = 'PENDING', attempts = 0, next_attempt_at = now(), updated_at = now() where id = ? and status = 'FAILED' returning ${COLUMNS}`,
      [id.toLowerCase()],
    );
    if (retried) return toView(retried);
    const [existing] = await this.em.execute<{ status: DeliveryState }[]>('select status from notification where id = ?', [id.toLowerCase()]);
    if (!existing) throw notFound;
    throw new DomainError('NOT_FAILED', `Only a FAILED notification can be retried; this one is ${existing.status}`, ['input', 'id']);
  }
}

function page(rows: NotificationRow[], limit: number, at: (row: NotificationRow) => string): Omit<Page<NotificationView>, 'totalCount'> {
  return {
    nodes: rows.slice(0, limit).map((row) => ({ cursor: encodeCursor(at(row), row.id), node: toView(row) })),
    hasNextPage: rows.length > limit,
  };
}
