import { createDatabase, databaseUrl, dropDatabase } from '@shopgraph/infra';
import type { EntityManager, Orm } from '@shopgraph/kit';
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

/** A transaction kept open (its locks held) until `commit()`, which resolves once it has committed. */
export interface HeldTransaction {
  commit(): Promise<void>;
}

/**
 * Runs `work` in a transaction of `orm` and keeps the transaction open: resolves once `work` is
 * done, i.e. while it holds what `work` locked, so a test can show what waits for those locks.
 * Rejects with `work`'s error.
 */
export async function holdTransaction(orm: Orm, work: (em: EntityManager) => Promise<unknown>): Promise<HeldTransaction> {
  let release!: () => void;
  let done!: () => void;
  const worked = new Promise<void>((resolve) => (done = resolve));
  const ended = orm.em.fork().transactional(async (em) => {
    await work(em);
    const released = new Promise<void>((resolve) => (release = resolve));
    done();
    await released;
  });
  await Promise.race([worked, ended]);
  return {
    commit: async () => {
      release();
      await ended;
    },
  };
}
