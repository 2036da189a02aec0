// The service layer every subgraph runs on (database, messaging, Redis, the subgraph server), with
// the core it builds on (@shopgraph/core) re-exported, so a subgraph imports from one place.
export * from '@shopgraph/core';
export * from './db.ts';
export * from './loader.ts';
export * from './periodic.ts';
export * from './redis.ts';
export * from './service.ts';
export * from './subgraph.ts';
export * from './messaging/index.ts';
