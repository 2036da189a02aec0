import { serveUntilSignal } from '@shopgraph/kit';
import { createSearchApp } from './app.ts';
import { loadSearchConfig } from './config.ts';

await serveUntilSignal('search', loadSearchConfig(), createSearchApp);
