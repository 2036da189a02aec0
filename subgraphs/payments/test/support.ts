import { serviceStarter } from '@shopgraph/testkit';
import { createPaymentsApp } from '../src/app.ts';
import { loadPaymentsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The payments service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startPayments = serviceStarter({ name: 'payments', createApp: createPaymentsApp, loadConfig: loadPaymentsConfig, entities, migrations });
