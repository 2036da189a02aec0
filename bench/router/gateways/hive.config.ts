// (c, d) Hive Gateway, run by its own CLI (`hive-gateway supergraph <file> -c <this file>`, plus
// `--hive-router-runtime` for its Rust query planner). Stock but for one setting: outgoing
// (subgraph) request deduplication is off, so every gateway sends every subgraph request it plans;
// with it on, concurrent identical subgraph fetches of different client requests share one answer.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  transportEntries: {
    '*.http': { options: { deduplicateInflightRequests: false } },
  },
});
