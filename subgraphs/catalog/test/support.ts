import { serviceStarter } from '@shopgraph/testkit';
import { createCatalogApp } from '../src/app.ts';
import { loadCatalogConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The catalog service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startCatalog = serviceStarter({ name: 'catalog', createApp: createCatalogApp, loadConfig: loadCatalogConfig, entities, migrations });
