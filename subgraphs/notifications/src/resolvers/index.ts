import { DateTimeScalar, DomainError, ErrorCode, graphqlError, payload, type GraphQLResolverMap, type Identity } from '@shopgraph/kit';
import type { DeliveryState, NotificationKind } from '../entities/index.ts';
import type { NotificationView, Page } from '../domain/notifications.service.ts';
import type { NotificationsContext } from '../context.ts';

/** The signed-in caller (the kit has enforced `@authenticated` on the field being resolved). */
const viewer = ({ identity }: NotificationsContext): Identity => {
  if (!identity) throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Sign in to see notifications');
  return identity;
};

/** A bad argument of a query (a page size, a cursor) is the client's error, with our reason. */
async function query<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DomainError) throw graphqlError(ErrorCode.BAD_USER_INPUT, error.message, { reason: error.code });
    throw error;
  }
}

/** The API's delivery status: a notification being sent is still PENDING to its reader. */
const deliveryStatus = (status: DeliveryState): 'PENDING' | 'SENT' | 'FAILED' => (status === 'SENDING' ? 'PENDING' : (status as 'PENDING' | 'SENT' | 'FAILED'));

const connection = (page: Page<NotificationView>) => ({
  edges: page.nodes,
  pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.nodes.at(-1)?.cursor ?? null },
  totalCount: page.totalCount,
});

export const resolvers: GraphQLResolverMap<NotificationsContext> = {
  DateTime: DateTimeScalar,
  Query: {
    notificationPreferences: (_: unknown, __: unknown, context: NotificationsContext) => context.notifications.preferences(viewer(context).userId),
    failedNotifications: (_: unknown, args: { first: number; after?: string | null }, { notifications }: NotificationsContext) =>
      query(async () => connection(await notifications.failed(args.first, args.after))),
  },
  Mutation: {
    markNotificationsRead: (_: unknown, { input }: { input: { ids: string[] } }, context: NotificationsContext) =>
      payload(() => context.notifications.markRead(viewer(context).userId, input.ids)),
    updateNotificationPreferences: (_: unknown, { input }: { input: { kind: NotificationKind; email: boolean } }, context: NotificationsContext) =>
      payload(async () => ({ preferences: await context.notifications.updatePreference(viewer(context).userId, input.kind, input.email) })),
    retryNotification: (_: unknown, { input }: { input: { id: string } }, { notifications, wakeSender }: NotificationsContext) =>
      payload(async () => {
        const delivery = await notifications.retry(input.id);
        wakeSender();
        return { delivery };
      }),
  },
  User: {
    __resolveReference: ({ id }: { id: string }) => ({ id }),
    notifications: (user: { id: string }, args: { first: number; after?: string | null }, context: NotificationsContext) => {
      // Nobody else's, staff included: notifications may say more than an order does.
      if (viewer(context).userId.toLowerCase() !== user.id.toLowerCase()) throw graphqlError(ErrorCode.FORBIDDEN, 'Notifications are visible only to their user');
      return query(async () => {
        const page = await context.notifications.ofUser(user.id, args.first, args.after);
        return { ...connection(page), unreadCount: page.unreadCount };
      });
    },
  },
  Notification: {
    body: (notification: NotificationView) => notification.bodyText,
    read: (notification: NotificationView) => notification.readAt !== null,
    channels: (notification: NotificationView) => (notification.status === 'SKIPPED' ? ['IN_APP'] : ['IN_APP', 'EMAIL']),
    delivery: (notification: NotificationView) => (notification.status === 'SKIPPED' ? null : { status: deliveryStatus(notification.status), attempts: notification.attempts, sentAt: notification.sentAt }),
  },
  NotificationDelivery: {
    user: (notification: NotificationView) => (notification.userId ? { id: notification.userId } : null),
    status: (notification: NotificationView) => deliveryStatus(notification.status),
    reason: (notification: NotificationView) => notification.lastError,
  },
};
