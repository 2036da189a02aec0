// The gateways under test, each one process on the gateway core, and the direct-subgraph ceiling.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const gatewaysDir = join(here, '..', 'gateways');
const hiveBin = join(dirname(createRequire(import.meta.url).resolve('@graphql-hive/gateway')), 'bin.js');

export type GatewayId = 'router' | 'router-usage' | 'router-traced' | 'apollo' | 'hive' | 'hive-rust' | 'direct';

export interface LaunchContext {
  port: number;
  /** The composed supergraph, as the router takes it (it relaxes the SECURITY links itself). */
  supergraphPath: string;
  /** The same with `for: SECURITY` dropped from the @authenticated/@requiresScopes links: stock gateways refuse (or ignore) them. */
  peerSupergraphPath: string;
  /** The canned server's base URL (it serves the test issuer's JWKS). */
  cannedUrl: string;
  issuer: string;
  audience: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags: string[];
  /** The graph's name (the registry variant `router-usage` serves). */
  graph: string;
  /** The stand-in registry (lib/registry-stub.ts), when `router-usage` runs. */
  registryUrl?: string;
}

export interface Gateway {
  id: GatewayId;
  label: string;
  /** Command and environment of its process; none for `direct`. */
  launch?: (ctx: LaunchContext) => { command: string[]; env: Record<string, string> };
}

const node = process.execPath;

const routerEnv = (ctx: LaunchContext): Record<string, string> => ({
  NODE_ENV: 'production',
  PORT: String(ctx.port),
  HOST: '127.0.0.1',
  SUPERGRAPH_PATH: ctx.supergraphPath,
  WEB_ROOT: '',
  JWT_ISSUER: ctx.issuer,
  JWT_AUDIENCE: ctx.audience,
  JWT_JWKS_URL: `${ctx.cannedUrl}/.well-known/jwks.json`,
});

export const gateways: Gateway[] = [
  {
    id: 'router',
    label: 'our router',
    launch: (ctx) => ({ command: [node, ...ctx.nodeFlags, join(gatewaysDir, 'router.ts')], env: routerEnv(ctx) }),
  },
  {
    // The same router following a (stand-in) registry and reporting usage every second: its cost is
    // this row against the one above. Not in the default matrix (--usage, or --gateways router,router-usage).
    id: 'router-usage',
    label: 'our router + usage',
    launch: (ctx) => {
      if (!ctx.registryUrl) throw new Error('router-usage needs the stand-in registry');
      return {
        command: [node, ...ctx.nodeFlags, join(gatewaysDir, 'router.ts')],
        env: { ...routerEnv(ctx), REGISTRY_URL: ctx.registryUrl, REGISTRY_TOKEN: 'bench', REGISTRY_VARIANT: ctx.graph, USAGE_REPORT_INTERVAL_MS: '1000' },
      };
    },
  },
  {
    // The same router tracing 1 % of operations (OpenTelemetry, OTLP/HTTP): its cost is this row
    // against `router`. The spans go to the canned server, which refuses them (404): what is
    // measured is making, batching and sending spans. Not in the default matrix (--tracing).
    id: 'router-traced',
    label: 'our router + tracing 1 %',
    launch: (ctx) => ({
      command: [node, ...ctx.nodeFlags, join(gatewaysDir, 'router.ts')],
      env: { ...routerEnv(ctx), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ctx.cannedUrl}/v1/traces`, OTEL_TRACES_SAMPLER_ARG: '0.01' },
    }),
  },
  {
    id: 'apollo',
    label: 'stock @apollo/gateway',
    launch: (ctx) => ({
      command: [node, ...ctx.nodeFlags, join(gatewaysDir, 'apollo.ts')],
      env: { NODE_ENV: 'production', PORT: String(ctx.port), SUPERGRAPH_PATH: ctx.peerSupergraphPath },
    }),
  },
  {
    id: 'hive',
    label: '@graphql-hive/gateway',
    launch: (ctx) => ({
      command: [node, ...ctx.nodeFlags, hiveBin, 'supergraph', ctx.peerSupergraphPath, '-c', join(gatewaysDir, 'hive.config.ts'), '--host', '127.0.0.1', '--port', String(ctx.port)],
      env: { NODE_ENV: 'production' },
    }),
  },
  {
    id: 'hive-rust',
    label: 'Hive + Rust planner',
    launch: (ctx) => ({
      command: [node, ...ctx.nodeFlags, hiveBin, 'supergraph', ctx.peerSupergraphPath, '-c', join(gatewaysDir, 'hive.config.ts'), '--host', '127.0.0.1', '--port', String(ctx.port), '--hive-router-runtime'],
      env: { NODE_ENV: 'production' },
    }),
  },
  { id: 'direct', label: 'subgraph direct' },
];
