import type { MigrationObject } from '@mikro-orm/core';
import { messagingMigrations } from '@shopgraph/kit';
import { Init } from './0001-init.ts';
import { ReviewAndCoupons } from './0002-review-and-coupons.ts';

/** Applied in this order at start; append, never edit one that has shipped. */
export const migrations: MigrationObject[] = [{ name: '0001-init', class: Init }, ...messagingMigrations, { name: '0002-review-and-coupons', class: ReviewAndCoupons }];
