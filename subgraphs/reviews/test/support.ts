import { serviceStarter } from '@shopgraph/testkit';
import { createReviewsApp } from '../src/app.ts';
import { loadReviewsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The reviews service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startReviews = serviceStarter({ name: 'reviews', createApp: createReviewsApp, loadConfig: loadReviewsConfig, entities, migrations });
