import { serveUntilSignal } from '@shopgraph/kit';
import { createReviewsApp } from './app.ts';
import { loadReviewsConfig } from './config.ts';

await serveUntilSignal('reviews', loadReviewsConfig(), createReviewsApp);
