import { serviceStarter } from '@shopgraph/testkit';
import { createPromotionsApp } from '../src/app.ts';
import { loadPromotionsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The promotions service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startPromotions = serviceStarter({ name: 'promotions', createApp: createPromotionsApp, loadConfig: loadPromotionsConfig, entities, migrations });
