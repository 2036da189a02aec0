import { createDatabase, databaseUrl, dropDatabase } from '@shopgraph/infra';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** The admin URL of the Postgres server the global setup found or started. */
export function postgresAdminUrl(): string {
  return inject('postgresUrl');
}

/** A new, empty database for one test file; drop it when done. */
export async function createTestDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = postgresAdminUrl();
  const name = `t_${prefix}_${randomBytes(5).toString('hex')}`;
  await createDatabase(admin, name);
  return { url: databaseUrl(admin, name), drop: () => dropDatabase(admin, name) };
}
