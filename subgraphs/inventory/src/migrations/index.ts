import type { MigrationObject } from '@mikro-orm/core';
import { messagingMigrations } from '@shopgraph/kit';
import { Init } from './0001-init.ts';
import { Reservations } from './0002-reservations.ts';
import { CancelledOrders } from './0003-cancelled-orders.ts';
import { LowStockThreshold } from './0004-low-stock-threshold.ts';

/** Applied in this order at start; append, never edit one that has shipped. */
export const migrations: MigrationObject[] = [
  { name: '0001-init', class: Init },
  ...messagingMigrations,
  { name: '0002-reservations', class: Reservations },
  { name: '0003-cancelled-orders', class: CancelledOrders },
  { name: '0004-low-stock-threshold', class: LowStockThreshold },
];
