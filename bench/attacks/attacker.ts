// One attack of bench:attacks, in a process of its own so that its work does not stall the
// legitimate load's event loop (only the machine's CPU is shared, as with a real attacker's
// traffic arriving at the router). Configured by ATTACK_CONFIG (JSON, see AttackConfig); sends at a
// fixed rate until SIGTERM, then prints one JSON line: what it sent and what came back, by code.
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair, importJWK } from 'jose';
import WebSocket from 'ws';
import { operation } from '../../e2e/operations.ts';
import { openLoop } from '../search/load.ts';
import { addressOf, httpClient, type Answer } from './http.ts';
import type { AttackConfig, AttackResult } from './plan.ts';

const config = JSON.parse(process.env['ATTACK_CONFIG'] ?? '{}') as AttackConfig;
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());

const outcomes: Record<string, number> = {};
const count = (outcome: string) => void (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1);
const recordAnswer = (answer: Answer) => count(`HTTP ${answer.status}${answer.code ? ` ${answer.code}` : ''}`);

const http = httpClient(config.routerUrl, { maxSockets: 256, timeoutMs: 10_000 });
// 28 KB of comment and whitespace: under LIMIT_MAX_DOCUMENT_BYTES (32 KB), so every document is legal.
const PADDING = randomBytes(15_000).toString('base64url');
const login = (alias: string, i: number) => `${alias}: login(input: { email: "nobody-${i}@attack.test", password: "guess-${i}" }) { accessToken }`;
const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

/** The HTTP attacks: request `i`'s body and headers. */
async function httpRequest(i: number): Promise<{ body: string; headers: Record<string, string> }> {
  const many = { 'x-forwarded-for': addressOf('attack', i % 10_000) };
  switch (config.attack) {
    case 'documents':
      // Anonymous, from 10,000 addresses, every document distinct (defeats the document and plan caches).
      return { body: JSON.stringify({ query: `# ${i} ${PADDING}\n${' '.repeat(8_000)}query D${i} { d${i}: categories { id } }` }), headers: many };
    case 'expensive':
      return { body: JSON.stringify({ query: `mutation { ${login('a', i)} ${login('b', i)} ${login('c', i)} }` }), headers: many };
    case 'bruteforce':
      return { body: JSON.stringify({ query: operation('Login'), variables: { input: { email: config.victimEmail, password: `guess-${i}` } } }), headers: { 'x-forwarded-for': addressOf('attack', 1) } };
    case 'flood':
      return { body: JSON.stringify({ query: operation('Cart') }), headers: { 'x-forwarded-for': addressOf('attack', 2), authorization: `Bearer ${config.attackerToken}` } };
    case 'jwt':
      return { body: JSON.stringify({ query: operation('Me') }), headers: { ...many, authorization: `Bearer ${forgedTokens[i % forgedTokens.length]}` } };
    default:
      throw new Error(`${config.attack} is not an HTTP attack`);
  }
}

let unknownKey: CryptoKey | undefined;
let accountsKey: CryptoKey | undefined;

/** alg none, an unknown kid, and expired (signed with the real key), in turn; each token distinct (3,000 of them, sent in turn). */
async function forged(i: number): Promise<string> {
  const claims = { sub: randomUUID(), scope: 'customer staff', iss: config.issuer, aud: 'shopgraph', jti: randomUUID() };
  switch (i % 3) {
    case 0:
      return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ ...claims, iat: nowS(), exp: nowS() + 300 })}.`;
    case 1: {
      unknownKey ??= (await generateKeyPair('ES256')).privateKey as CryptoKey;
      // A new kid each time: every one is a key the router has never seen.
      return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: `unknown-${randomUUID()}` }).setIssuedAt().setExpirationTime('5m').sign(unknownKey);
    }
    default:
      accountsKey ??= (await importJWK(config.accountsJwk, config.accountsJwk.alg)) as CryptoKey;
      return new SignJWT(claims).setProtectedHeader({ alg: config.accountsJwk.alg!, kid: config.accountsJwk.kid! }).setIssuedAt(nowS() - 900).setExpirationTime(nowS() - 600).sign(accountsKey);
  }
}

async function httpAttack(): Promise<{ sent: number; skipped: number; seconds: number }> {
  const result = await openLoop({
    rate: config.rate,
    until: stop.signal,
    maxInFlight: 512,
    signal: new AbortController().signal,
    send: async (i) => {
      const { body, headers } = await httpRequest(i);
      try {
        recordAnswer(await http.post(body, headers));
      } catch (error) {
        count(`failed: ${error instanceof Error ? error.message.slice(0, 60) : String(error)}`);
      }
      return { ok: true };
    },
  });
  return { sent: result.samples.length, skipped: result.skipped, seconds: result.seconds };
}

/**
 * One user opening WebSocket connections and subscribing to its own order, as fast as `rate`
 * allows: every fifth action a new connection (the quota closes those past it with 4029), the others
 * a new subscription on an open one (past the quota: TOO_MANY_SUBSCRIPTIONS). Nothing is closed
 * by the attacker: it holds all it was given.
 */
async function webSocketAttack(): Promise<{ sent: number; skipped: number; seconds: number }> {
  const url = config.routerUrl.replace(/^http/, 'ws');
  const acknowledged: WebSocket[] = [];
  const all = new Set<WebSocket>();
  let nextId = 0;
  const subscription = operation('OrderStatusChanged');
  const open = () => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { headers: { 'x-forwarded-for': addressOf('attack', 3) } });
    all.add(socket);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${config.attackerToken}` } })));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload?: { extensions?: { code?: string } }[] };
      if (message.type === 'connection_ack') {
        count('ws ack');
        acknowledged.push(socket);
      } else if (message.type === 'error') count(`ws error ${message.payload?.[0]?.extensions?.code ?? '?'}`);
      else if (message.type === 'next') count('ws next');
      else if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
    });
    socket.on('error', () => {});
    socket.on('close', (code) => {
      count(`ws close ${code}`);
      all.delete(socket);
      const index = acknowledged.indexOf(socket);
      if (index >= 0) acknowledged.splice(index, 1);
    });
  };
  const result = await openLoop({
    rate: config.rate,
    until: stop.signal,
    maxInFlight: 1,
    signal: new AbortController().signal,
    send: async (i) => {
      const socket = acknowledged[i % Math.max(1, acknowledged.length)];
      if (i % 5 === 0 || !socket || socket.readyState !== WebSocket.OPEN) {
        count('ws connect sent');
        open();
      } else {
        count('ws subscribe sent');
        socket.send(JSON.stringify({ id: String(++nextId), type: 'subscribe', payload: { query: subscription, variables: { orderId: config.orderId, after: 0 } } }));
      }
      return { ok: true };
    },
  });
  // Let the last answers in, then let go.
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const socket of all) socket.terminate();
  return { sent: result.samples.length, skipped: result.skipped, seconds: result.seconds };
}

// Forged before sending, as an attacker does on machines of its own: the signing is not the target's CPU.
const forgedTokens = config.attack === 'jwt' ? await Promise.all(Array.from({ length: 3_000 }, (_, i) => forged(i))) : [];
const { sent, skipped, seconds } = config.attack === 'websocket' ? await webSocketAttack() : await httpAttack();
http.close();
const result: AttackResult = { attack: config.attack, rate: config.rate, seconds: Math.round(seconds * 10) / 10, sent, outcomes, skipped };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
