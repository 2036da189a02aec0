import { serveUntilSignal } from '@shopgraph/kit';
import { createOrdersApp } from './app.ts';
import { loadOrdersConfig } from './config.ts';

await serveUntilSignal('orders', loadOrdersConfig(), createOrdersApp);
