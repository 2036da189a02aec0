import type { Service } from '@shopgraph/kit';
import { graphql, redisEnv, serviceEnv, startServiceUnderTest, testLogger, type ServiceUnderTest } from '@shopgraph/testkit';
import { createAccountsApp, JWKS_PATH, type Deps } from '../src/app.ts';
import { loadAccountsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

export const TOKENS = 'accessToken expiresIn refreshToken';
export const ERRORS = 'errors { code message field }';
export const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { ${TOKENS} user { id email name } ${ERRORS} } }`;
export const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { ${TOKENS} retryAfterSeconds user { id email name } ${ERRORS} } }`;
export const REFRESH = `mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { ${TOKENS} retryAfterSeconds ${ERRORS} } }`;
export const LOGOUT = `mutation($input: LogoutInput!) { logout(input: $input) { ${ERRORS} } }`;
export const ME = `{ me { id email name } }`;

export interface RunningApp {
  app: Service;
  base: string;
  url: string;
  jwksUrl: string;
}

/** Starts the accounts app on port 0 against a database (and the test file's topic prefix), with extra env on top of the test defaults. */
export async function startApp(databaseUrl: string, env: Record<string, string> = {}): Promise<RunningApp> {
  const config = loadAccountsConfig({ ...serviceEnv(databaseUrl), ...redisEnv(), ...env });
  const app = await createAccountsApp({ config, logger: testLogger('accounts') });
  const base = await app.listen(0);
  return { app, base, url: `${base}/graphql`, jwksUrl: `${base}${JWKS_PATH}` };
}

/**
 * The accounts service on a database of its own (see startServiceUnderTest), counting sign-in
 * attempts in this file's Redis keys. Unlike the other subgraphs it verifies tokens with its own
 * signing keys, the ones it issues tokens with.
 */
export async function startAccounts(env: Record<string, string> = {}, seams: Pick<Deps, 'onPasswordWork'> = {}): Promise<ServiceUnderTest & RunningApp> {
  const service = await startServiceUnderTest({
    name: 'accounts',
    entities,
    migrations,
    env: { ...redisEnv(), ...env },
    start: ({ env, logger }) => createAccountsApp({ config: loadAccountsConfig(env), logger, ...seams }),
  });
  return { ...service, jwksUrl: `${service.base}${JWKS_PATH}` };
}

/** Runs a mutation and returns its payload (the one root field), failing on GraphQL errors. */
export async function mutate(url: string, query: string, input: Record<string, unknown>, token?: string): Promise<any> {
  const response = await graphql(url, query, { input }, token);
  if (response.errors) throw new Error(`GraphQL errors: ${JSON.stringify(response.errors)}`);
  return Object.values(response.data!)[0];
}

/** The claims and header of a JWT, without verifying it. */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header, claims] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, claims };
}

let counter = 0;
export const uniqueEmail = (prefix = 'user'): string => `${prefix}.${process.pid}.${++counter}.${crypto.randomUUID().slice(0, 8)}@example.com`;
export const PASSWORD = 'correct-Horse-battery-9';
