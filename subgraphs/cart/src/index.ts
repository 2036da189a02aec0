import { serveUntilSignal } from '@shopgraph/kit';
import { createCartApp } from './app.ts';
import { loadCartConfig } from './config.ts';

await serveUntilSignal('cart', loadCartConfig(), createCartApp);
