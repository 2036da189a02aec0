import type { RequestContext, RequestInput } from '@shopgraph/kit';
import { NotificationsService } from './domain/notifications.service.ts';
import type { Sender } from './domain/sender.ts';

export interface NotificationsContext extends RequestContext {
  notifications: NotificationsService;
  /** Tells the sender something is due now (a retried notification). */
  wakeSender: () => void;
}

export const notificationsContext =
  (sender: Sender) =>
  ({ identity, em }: RequestInput<unknown>): NotificationsContext => ({ identity, notifications: new NotificationsService(em), wakeSender: () => sender.wake() });
