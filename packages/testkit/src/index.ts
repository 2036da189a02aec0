export * from './database.ts';
export * from './events.ts';
export * from './graphql.ts';
export * from './graphql-ws.ts';
export * from './issuer.ts';
export * from './kafka.ts';
export * from './service.ts';
export * from './wait.ts';
