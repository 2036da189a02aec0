import { serviceStarter } from '@shopgraph/testkit';
import { createCartApp } from '../src/app.ts';
import { loadCartConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The cart service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startCart = serviceStarter({ name: 'cart', createApp: createCartApp, loadConfig: loadCartConfig, entities, migrations });
