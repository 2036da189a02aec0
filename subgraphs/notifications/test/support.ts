import { serviceStarter } from '@shopgraph/testkit';
import { createNotificationsApp } from '../src/app.ts';
import { loadNotificationsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The notifications service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startNotifications = serviceStarter({ name: 'notifications', createApp: createNotificationsApp, loadConfig: loadNotificationsConfig, entities, migrations });

/** A user's notifications through the subgraph's User entity, as the router fetches them. */
export const NOTIFICATIONS = `query Notifications($representations: [_Any!]!, $first: Int, $after: String) {
  _entities(representations: $representations) {
    ... on User {
      notifications(first: $first, after: $after) {
        edges { cursor node { id kind subject body createdAt readAt read channels delivery { status attempts sentAt } } }
        pageInfo { hasNextPage endCursor }
        totalCount
        unreadCount
      }
    }
  }
}`;

export interface NotificationNode {
  id: string;
  kind: string;
  subject: string;
  body: string;
  createdAt: string;
  readAt: string | null;
  read: boolean;
  channels: string[];
  delivery: { status: string; attempts: number; sentAt: string | null } | null;
}
