import { messagingEntities } from '@shopgraph/kit';
import { NotificationPreference } from './notification-preference.entity.ts';
import { Notification } from './notification.entity.ts';
import { OrderSummary } from './order-summary.entity.ts';
import { ProductName } from './product-name.entity.ts';
import { UserContact } from './user-contact.entity.ts';

export { Notification, NotificationPreference, OrderSummary, ProductName, UserContact };
export { DELIVERY_STATES, NOTIFICATION_KINDS, type DeliveryState, type NotificationKind } from './notification.entity.ts';
export type { Money, SummaryLine } from './order-summary.entity.ts';
/** Notifications' own tables (the migrations create them), then the kit's outbox and processed-message tables. */
export const entities = [Notification, NotificationPreference, UserContact, OrderSummary, ProductName, ...messagingEntities];
