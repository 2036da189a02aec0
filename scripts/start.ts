// `npm start`: the whole supergraph on this machine, no Docker. Finds or starts the
// infrastructure, gives each subgraph its own database, starts the subgraphs on the ports of
// supergraph.yaml, then the router; seeds demo data and prints how to use it. Ctrl-C stops all.
import { createDatabase, databaseUrl, ensureKafka, ensurePostgres, ensureRedis, repoDirs, spawnManaged, type ManagedChild } from '@shopgraph/infra';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSupergraphConfig, SUPERGRAPH_FILE } from './compose.ts';
import { seed } from './seed.ts';

const { root, cache, data } = repoDirs();
const logs = join(data, 'logs');
mkdirSync(logs, { recursive: true });
const say = (message: string) => console.log(`[start] ${message}`);

const ROUTER_PORT = Number(process.env.ROUTER_PORT ?? 4000);
const routerUrl = `http://127.0.0.1:${ROUTER_PORT}/graphql`;
const demo = {
  staff: { email: process.env.STAFF_EMAIL ?? 'staff@shopgraph.dev', password: process.env.STAFF_PASSWORD ?? 'staff-demo-password', name: 'Store Staff' },
  customer: { email: 'customer@shopgraph.dev', password: 'customer-demo-password', name: 'Demo Customer' },
};

// Infrastructure: each entry finds a configured or running server, or starts one.
// Elasticsearch joins this list the same way.
const stops: (() => Promise<void>)[] = [];
const postgres = await ensurePostgres({ dataDir: join(data, 'postgres'), log: say });
stops.push(postgres.stop);
const redis = await ensureRedis({ dataDir: join(data, 'redis'), log: say });
stops.push(redis.stop);
const kafka = await ensureKafka({ cacheDir: cache, dataDir: join(data, 'kafka'), log: say });
stops.push(kafka.stop);

const subgraphs = readSupergraphConfig();
const accountsUrl = subgraphs.find((s) => s.name === 'accounts')?.url ?? 'http://127.0.0.1:4001/graphql';
const issuer = new URL(accountsUrl).origin;
const shared = {
  NODE_ENV: process.env.NODE_ENV ?? 'development',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  REDIS_URL: redis.url,
  KAFKA_BROKERS: kafka.brokers.join(','),
  JWT_ISSUER: issuer,
  JWT_JWKS_URL: `${issuer}/.well-known/jwks.json`,
  GRAPH_URL: routerUrl,
  STAFF_EMAIL: demo.staff.email,
  STAFF_PASSWORD: demo.staff.password,
  STAFF_NAME: demo.staff.name,
};

const children: { name: string; child: ManagedChild }[] = [];
async function startService(name: string, entry: string, port: number, env: Record<string, string>): Promise<void> {
  const logFile = join(logs, `${name}.log`);
  const child = await spawnManaged(process.execPath, [entry], { logFile, cwd: root, env: { ...process.env, ...shared, ...env, PORT: String(port) } });
  children.push({ name, child });
  await waitUntilReady(name, `http://127.0.0.1:${port}/readyz`, child, logFile);
}

async function waitUntilReady(name: string, url: string, child: ManagedChild, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!child.isRunning()) throw new Error(`${name} exited during start-up; see ${logFile}`);
    const ready = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ready) return say(`${name} ready`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} not ready after ${timeoutMs / 1000}s; see ${logFile}`);
}

async function stopAll(): Promise<void> {
  for (const { child } of children.reverse()) await child.stop();
  for (const stop of stops.reverse()) await stop();
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    void stopAll().then(() => process.exit(0), () => process.exit(1));
  });
}

try {
  for (const { name } of subgraphs) await createDatabase(postgres.url, `shopgraph_${name}`);
  const start = (s: (typeof subgraphs)[number]) =>
    startService(s.name, join(root, 'subgraphs', s.name, 'src/index.ts'), Number(new URL(s.url).port), { DATABASE_URL: databaseUrl(postgres.url, `shopgraph_${s.name}`) });
  // Accounts first: every other service fetches the token signing keys from it.
  const [first, rest] = [subgraphs.filter((s) => s.name === 'accounts'), subgraphs.filter((s) => s.name !== 'accounts')];
  for (const s of first) await start(s);
  await Promise.all(rest.map(start));
  await startService('router', join(root, 'router/src/index.ts'), ROUTER_PORT, { SUPERGRAPH_PATH: SUPERGRAPH_FILE });

  say('seeding demo data (first run takes a few seconds)…');
  await seed({ routerUrl, staff: { email: demo.staff.email, password: demo.staff.password }, customer: demo.customer, products: Number(process.env.SEED_PRODUCTS ?? 1000), log: say });
  printWelcome();
} catch (error) {
  console.error(`[start] ${error instanceof Error ? error.message : String(error)}`);
  await stopAll();
  process.exit(1);
}

function printWelcome(): void {
  const login = `mutation { login(input: { email: \\"${demo.customer.email}\\", password: \\"${demo.customer.password}\\" }) { accessToken } }`;
  const browse = '{ me { name } products(first: 3) { edges { node { name price { amount currency } availableQuantity } } } }';
  console.log(`
  Supergraph ready.
    Router     ${routerUrl}   (health: http://127.0.0.1:${ROUTER_PORT}/healthz)
${subgraphs.map((s) => `    ${s.name.padEnd(10)} ${s.url}`).join('\n')}
    Logs       ${logs}

  Demo accounts
    staff      ${demo.staff.email} / ${demo.staff.password}
    customer   ${demo.customer.email} / ${demo.customer.password}

  Try it (log in as the demo customer, then browse):
    TOKEN=$(curl -s ${routerUrl} -H 'content-type: application/json' \\
      -d '{"query":"${login}"}' | sed -E 's/.*"accessToken":"([^"]+)".*/\\1/')
    curl -s ${routerUrl} -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \\
      -d '{"query":"${browse}"}'

  Ctrl-C stops everything.
`);
}
