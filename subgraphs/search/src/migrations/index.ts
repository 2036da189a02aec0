import type { MigrationObject } from '@mikro-orm/core';
import { messagingMigrations } from '@shopgraph/kit';

/** Applied in this order at start; append, never edit one that has shipped. */
export const migrations: MigrationObject[] = [...messagingMigrations];
