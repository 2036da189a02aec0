// `npm start`: the whole supergraph on this machine, no Docker, on the ports of supergraph.yaml
// (router on 4000); seeds demo data and prints how to use it. Ctrl-C stops everything.
import { startStack, type Stack } from './stack.ts';
import { seed } from './seed.ts';

const say = (message: string) => console.log(`[start] ${message}`);
const ROUTER_PORT = Number(process.env.ROUTER_PORT ?? 4000);
const demo = {
  staff: { email: process.env.STAFF_EMAIL ?? 'staff@shopgraph.dev', password: process.env.STAFF_PASSWORD ?? 'staff-demo-password', name: 'Store Staff' },
  customer: { email: 'customer@shopgraph.dev', password: 'customer-demo-password', name: 'Demo Customer' },
};

let stack: Stack | undefined;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    void (stack?.stop() ?? Promise.resolve()).then(() => process.exit(0), () => process.exit(1));
  });
}

try {
  stack = await startStack({
    ports: 'fixed',
    routerPort: ROUTER_PORT,
    databasePrefix: 'shopgraph',
    dataDir: '.',
    env: { STAFF_EMAIL: demo.staff.email, STAFF_PASSWORD: demo.staff.password, STAFF_NAME: demo.staff.name },
    log: say,
    tracing: true,
  });
  say('seeding demo data (first run takes a few seconds)…');
  await seed({ routerUrl: stack.routerUrl, staff: { email: demo.staff.email, password: demo.staff.password }, customer: demo.customer, products: Number(process.env.SEED_PRODUCTS ?? 1000), log: say });
  printWelcome(stack);
} catch (error) {
  console.error(`[start] ${error instanceof Error ? error.message : String(error)}`);
  await stack?.stop();
  process.exit(1);
}

function printWelcome({ routerUrl, subgraphUrls, mailInboxUrl, tracesUrl, logs }: Stack): void {
  const login = `mutation { login(input: { email: \\"${demo.customer.email}\\", password: \\"${demo.customer.password}\\" }) { accessToken } }`;
  const browse = '{ me { name } products(first: 3) { edges { node { name price { amount currency } availableQuantity } } } }';
  console.log(`
  Supergraph ready.
    Web client http://127.0.0.1:${ROUTER_PORT}/
    Router     ${routerUrl}   (health: http://127.0.0.1:${ROUTER_PORT}/healthz)
${Object.entries(subgraphUrls).map(([name, url]) => `    ${name.padEnd(10)} ${url}`).join('\n')}
    Mail inbox ${mailInboxUrl}   (every e-mail the shop sends, e.g. the welcome and order confirmations)
    Traces     ${tracesUrl}   (Zipkin: one trace per request, a checkout saga's Kafka hops included)
    Logs       ${logs}

  Demo accounts
    staff      ${demo.staff.email} / ${demo.staff.password}
    customer   ${demo.customer.email} / ${demo.customer.password}

  Try it (log in as the demo customer, then browse):
    TOKEN=$(curl -s ${routerUrl} -H 'content-type: application/json' \\
      -d '{"query":"${login}"}' | sed -E 's/.*"accessToken":"([^"]+)".*/\\1/')
    curl -s ${routerUrl} -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \\
      -d '{"query":"${browse}"}'

  To place an order and watch it move through the saga, see "Run it" in README.md.
  Ctrl-C stops everything.
`);
}
