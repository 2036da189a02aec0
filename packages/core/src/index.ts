// What every GraphQL service of the product shares, the router included: config, JWT verification,
// authorization directives, operation limits and checks, HTTP and graphql-ws, logging, metrics, traces, shutdown.
// Nothing here loads a database, Kafka or Redis client.
export * from './auth.ts';
export * from './authz.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './expensive.ts';
export * from './graphql.ts';
export * from './graphql-ws.ts';
export * from './http.ts';
export * from './keep-alive.ts';
export * from './lifecycle.ts';
export * from './limits.ts';
export * from './log.ts';
export * from './metrics.ts';
export * from './money.ts';
export * from './operation.ts';
export * from './session.ts';
export * from './stream.ts';
export * from './tracing.ts';
