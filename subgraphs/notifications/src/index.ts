import { serveUntilSignal } from '@shopgraph/kit';
import { createNotificationsApp } from './app.ts';
import { loadNotificationsConfig } from './config.ts';

await serveUntilSignal('notifications', loadNotificationsConfig(), createNotificationsApp);
