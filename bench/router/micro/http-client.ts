// Micro-benchmark (evidence for BENCHMARKS.md, "Router"): client-side CPU per subgraph request of
// global fetch (undici, AbortSignal.timeout, response.json()), a keep-alive node:http request with
// JSON.parse, and the router's own client (undici's Pool.request, router/src/subgraphs.ts), against the canned subgraphs. Run this process
// on its own core; it starts the canned server on the other.
//   node bench/router/micro/http-client.ts [requests] [concurrency]
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const requests = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 16);
const here = dirname(fileURLToPath(import.meta.url));
const server = spawn('taskset', ['-c', '0', process.execPath, join(here, '..', 'canned-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH, PORT: '0' } });
const base = await new Promise<string>((resolve) => server.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString().split('\n')[0]!) as { url: string }).url)));

const bodies = {
  'small (one field)': { path: '/shop/catalog', body: JSON.stringify({ query: 'query ($id: ID!) { product(id: $id) { name } }', variables: { id: '00000000-0000-4000-8000-000000000005' } }) },
  'entities (9 reviews ≈ 4 KB)': {
    path: '/guild/reviews',
    body: JSON.stringify({ query: 'query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { reviews { id body author { id username } } } } }', variables: { representations: ['1', '2', '3', '4'].map((upc) => ({ __typename: 'Product', upc })) } }),
  },
};

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const viaFetch = async (url: string, body: string) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
  return res.json();
};
const viaFetchNoSignal = async (url: string, body: string) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body });
  return res.json();
};
const viaHttp = (url: string, body: string) =>
  new Promise<unknown>((resolve, reject) => {
    const u = new URL(url);
    const req = request({ agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });

const undiciPools = new Map<string, Pool>();
const viaUndici = async (url: string, body: string) => {
  const u = new URL(url);
  let pool = undiciPools.get(u.origin);
  if (!pool) undiciPools.set(u.origin, (pool = new Pool(u.origin, { connections: concurrency, pipelining: 1 })));
  const res = await pool.request({ path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return JSON.parse(await res.body.text());
};

async function run(label: string, send: (url: string, body: string) => Promise<unknown>, url: string, body: string): Promise<void> {
  const go = async (n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < n) await send(url, body);
    }));
  };
  await go(2000);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await go(requests);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  console.log(`${label.padEnd(48)} ${((cpu.user + cpu.system) / requests).toFixed(1).padStart(6)} µs CPU/request, ${Math.round((requests * 1000) / wall)} req/s`);
}

for (const [name, { path, body }] of Object.entries(bodies)) {
  await run(`${name}: fetch (undici) + timeout signal`, viaFetch, base + path, body);
  await run(`${name}: fetch (undici), no signal`, viaFetchNoSignal, base + path, body);
  await run(`${name}: node:http keep-alive`, viaHttp, base + path, body);
  await run(`${name}: undici Pool.request (the router's)`, viaUndici, base + path, body);
}
for (const pool of undiciPools.values()) await pool.close();
agent.destroy();
server.kill('SIGTERM');
