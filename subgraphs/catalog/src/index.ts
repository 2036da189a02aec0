import { serveUntilSignal } from '@shopgraph/kit';
import { createCatalogApp } from './app.ts';
import { loadCatalogConfig } from './config.ts';

await serveUntilSignal('catalog', loadCatalogConfig(), createCatalogApp);
