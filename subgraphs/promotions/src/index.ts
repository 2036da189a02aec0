import { serveUntilSignal } from '@shopgraph/kit';
import { createPromotionsApp } from './app.ts';
import { loadPromotionsConfig } from './config.ts';

await serveUntilSignal('promotions', loadPromotionsConfig(), createPromotionsApp);
