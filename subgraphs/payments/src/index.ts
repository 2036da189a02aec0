import { serveUntilSignal } from '@shopgraph/kit';
import { createPaymentsApp } from './app.ts';
import { loadPaymentsConfig } from './config.ts';

await serveUntilSignal('payments', loadPaymentsConfig(), createPaymentsApp);
