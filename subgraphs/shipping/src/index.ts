import { serveUntilSignal } from '@shopgraph/kit';
import { createShippingApp } from './app.ts';
import { loadShippingConfig } from './config.ts';

await serveUntilSignal('shipping', loadShippingConfig(), createShippingApp);
