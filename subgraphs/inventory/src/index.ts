import { serveUntilSignal } from '@shopgraph/kit';
import { createInventoryApp } from './app.ts';
import { loadInventoryConfig } from './config.ts';

await serveUntilSignal('inventory', loadInventoryConfig(), createInventoryApp);
