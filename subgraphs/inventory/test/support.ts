import { serviceStarter } from '@shopgraph/testkit';
import { createInventoryApp } from '../src/app.ts';
import { loadInventoryConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The inventory service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startInventory = serviceStarter({ name: 'inventory', createApp: createInventoryApp, loadConfig: loadInventoryConfig, entities, migrations });
