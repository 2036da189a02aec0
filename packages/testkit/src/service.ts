// A subgraph service under test, as every subgraph's integration tests start it: a database of
// its own on the real Postgres, the real Kafka with this file's topic prefix, port 0, and a second
// connection to its database for looking at what it stored.
import { createLogger, openDatabase, type DatabaseOptions, type Logger, type Orm, type Service, type TokenVerifier } from '@shopgraph/kit';
import { createTestDatabase } from './database.ts';
import { createTestIssuer, type TestIssuer } from './issuer.ts';
import { serviceEnv } from './kafka.ts';

/** What a subgraph's `start` gets: the env for its config loader (database, port 0, Kafka) and the test's logger and verifier. */
export interface ServiceStartInput {
  env: Record<string, string>;
  logger: Logger;
  /** Trusts the tokens of `issuer`. */
  verifier: TokenVerifier;
}

export interface ServiceUnderTestOptions {
  /** The subgraph's name: its database prefix and logger name. */
  name: string;
  /** Builds the service (its `createXApp`); the harness makes it listen on port 0. */
  start: (input: ServiceStartInput, replica: number) => Promise<Service>;
  /** How many processes of it to run on the one database and set of topics (default 1). */
  replicas?: number;
  /** The service's entities and migrations, for the second connection. */
  entities: DatabaseOptions['entities'];
  migrations: DatabaseOptions['migrations'];
  /** Extra env on top of the test defaults (e.g. STAFF_EMAIL). */
  env?: Record<string, string>;
  /** Connections of the second pool (the kit's default unless set). */
  poolMax?: number;
}

export interface Replica {
  app: Service;
  /** The service's base URL (`http://127.0.0.1:<port>`). */
  base: string;
  /** Its GraphQL endpoint. */
  url: string;
}

/** The service (its first replica's app and URLs, and every replica). */
export interface ServiceUnderTest extends Replica {
  replicas: Replica[];
  databaseUrl: string;
  /** Signs the test's customer and staff tokens, which the service trusts. */
  issuer: TestIssuer;
  /** A second connection to the service's database. */
  orm: Orm;
  /** Runs SQL on the second connection. */
  sql<T>(query: string, params?: unknown[]): Promise<T[]>;
  /** Stops the service and drops its database. */
  close(): Promise<void>;
}

/** Quiet unless TEST_LOG_LEVEL says otherwise (e.g. `TEST_LOG_LEVEL=debug`). */
export const testLogger = (name: string): Logger => createLogger(name, process.env.TEST_LOG_LEVEL ?? 'silent');

/** Starts a subgraph service on a new database of its own; `close()` undoes everything it did. */
export async function startServiceUnderTest(options: ServiceUnderTestOptions): Promise<ServiceUnderTest> {
  const db = await createTestDatabase(options.name);
  const opened: { apps: Service[]; orm?: Orm } = { apps: [] };
  const close = async (): Promise<void> => {
    for (const app of opened.apps.splice(0)) await app.close();
    await opened.orm?.close();
    await db.drop();
  };
  try {
    const issuer = await createTestIssuer();
    const input = { env: { ...serviceEnv(db.url), ...options.env }, logger: testLogger(options.name), verifier: issuer.verifier };
    const replicas: Replica[] = [];
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      const app = await options.start(input, i);
      opened.apps.push(app);
      const base = await app.listen(0);
      replicas.push({ app, base, url: `${base}/graphql` });
    }
    const orm = (opened.orm = await openDatabase({ url: db.url, entities: options.entities, migrations: options.migrations, poolMax: options.poolMax }));
    return {
      ...replicas[0]!,
      replicas,
      databaseUrl: db.url,
      issuer,
      orm,
      sql: <T>(query: string, params: unknown[] = []) => orm.em.fork().execute<T[]>(query, params),
      close,
    };
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

/** The test seams of a service factory's deps: everything but what the harness provides. */
export type TestSeams<D> = Omit<D, 'config' | 'logger' | 'verifier'>;

/** What a subgraph is made of, as its integration tests start it. */
export interface ServiceDefinition<D> {
  name: string;
  /** Its `createXApp`. */
  createApp: (deps: D) => Promise<Service>;
  /** Its `loadXConfig`. */
  loadConfig: (env: Record<string, string>) => D extends { config: infer C } ? C : never;
  entities: DatabaseOptions['entities'];
  migrations: DatabaseOptions['migrations'];
}

export type ServiceStarter<D> = (
  seams?: TestSeams<D> | ((replica: number) => TestSeams<D>),
  options?: Pick<ServiceUnderTestOptions, 'env' | 'replicas' | 'poolMax'>,
) => Promise<ServiceUnderTest>;

/** A subgraph's `startX(seams, options)` for its tests: startServiceUnderTest with its own factory and config loader. */
export function serviceStarter<D extends { config: unknown; logger: Logger; verifier?: TokenVerifier }>(definition: ServiceDefinition<D>): ServiceStarter<D> {
  return (seams = {} as TestSeams<D>, options = {}) =>
    startServiceUnderTest({
      name: definition.name,
      entities: definition.entities,
      migrations: definition.migrations,
      ...options,
      start: ({ env, logger, verifier }, replica) =>
        definition.createApp({ config: definition.loadConfig(env), logger, verifier, ...(typeof seams === 'function' ? seams(replica) : seams) } as D),
    });
}
