import { serviceStarter } from '@shopgraph/testkit';
import { createShippingApp } from '../src/app.ts';
import { loadShippingConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The shipping service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startShipping = serviceStarter({ name: 'shipping', createApp: createShippingApp, loadConfig: loadShippingConfig, entities, migrations });
