import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { SubgraphConnection, type OperationFailure, type OperationSink } from './subgraph-connection.ts';

// A scripted subgraph end: records what the connection sends, answers as each test says.
interface Peer {
  url: string;
  received: Record<string, unknown>[];
  sockets: WebSocket[];
  /** Connections opened so far. */
  readonly connections: number;
  close(): Promise<void>;
}

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((peer) => peer.close()));
});

async function peer(answer: (message: Record<string, unknown>, socket: WebSocket) => void = ack, options: ServerOptions = {}): Promise<Peer> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await new Promise((resolve) => server.once('listening', resolve));
  const received: Record<string, unknown>[] = [];
  const sockets: WebSocket[] = [];
  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      received.push(message);
      answer(message, socket);
    });
  });
  const created: Peer = {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    received,
    sockets,
    get connections() {
      return sockets.length;
    },
    close: () => new Promise((resolve) => {
      for (const socket of server.clients) socket.terminate();
      server.close(() => resolve());
    }),
  };
  peers.push(created);
  return created;
}

function ack(message: Record<string, unknown>, socket: WebSocket): void {
  if (message.type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }));
}

/** A sink recording what reaches it. */
function recorder() {
  const events: unknown[] = [];
  const failures: OperationFailure[] = [];
  let completed = 0;
  const sink: OperationSink = {
    next: (result) => void events.push(result),
    error: (failure) => void failures.push(failure),
    complete: () => void completed++,
  };
  return { sink, events, failures, completed: () => completed };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const query = 'subscription { ticks }';

describe('SubgraphConnection', () => {
  it('carries every operation on one socket, sending those started while connecting once acknowledged, with the payload as it is then', async () => {
    const subgraph = await peer();
    const connection = new SubgraphConnection({ url: subgraph.url, connectionParams: { operationTokens: true } });
    const extensions = { authorization: 'Bearer old' };
    const a = recorder();
    const b = recorder();
    connection.subscribe('1', { query, extensions }, a.sink);
    connection.subscribe('2', { query }, b.sink);
    extensions.authorization = 'Bearer new';
    await until(() => subgraph.received.length === 3, 'both subscribed');
    expect(subgraph.received).toEqual([
      { type: 'connection_init', payload: { operationTokens: true } },
      { id: '1', type: 'subscribe', payload: { query, extensions: { authorization: 'Bearer new' } } },
      { id: '2', type: 'subscribe', payload: { query } },
    ]);
    expect(connection.open).toBe(true);
    const [socket] = subgraph.sockets;
    socket!.send(JSON.stringify({ id: '2', type: 'next', payload: { data: { ticks: 1 } } }));
    socket!.send(JSON.stringify({ id: '1', type: 'error', payload: [{ message: 'Forbidden', extensions: { code: 'FORBIDDEN' } }] }));
    socket!.send(JSON.stringify({ id: '2', type: 'complete' }));
    await until(() => b.completed() === 1, 'completed');
    expect(b.events).toEqual([{ data: { ticks: 1 } }]);
    expect(a.failures).toEqual([{ errors: [{ message: 'Forbidden', extensions: { code: 'FORBIDDEN' } }] }]);
    expect(connection.size).toBe(0);
    expect(subgraph.connections).toBe(1);
    connection.close();
  });

  it('sends complete when stopped and passes on nothing after; closes the socket when idle and opens a new one for the next operation', async () => {
    const subgraph = await peer();
    const connection = new SubgraphConnection({ url: subgraph.url, connectionParams: {}, idleCloseMs: 50 });
    const a = recorder();
    const stop = connection.subscribe('1', { query }, a.sink);
    await until(() => subgraph.received.length === 2, 'subscribed');
    stop();
    stop();
    await until(() => subgraph.received.length === 3, 'completed');
    expect(subgraph.received[2]).toEqual({ id: '1', type: 'complete' });
    subgraph.sockets[0]!.send(JSON.stringify({ id: '1', type: 'next', payload: { data: { ticks: 2 } } }));
    await until(() => !connection.open, 'closed when idle');
    expect(a.events).toEqual([]);
    expect(a.failures).toEqual([]);
    const b = recorder();
    connection.subscribe('2', { query }, b.sink);
    await until(() => connection.open && subgraph.connections === 2, 'reconnected');
    connection.close();
    await until(() => b.failures.length === 1, 'failed on close');
    expect(b.failures).toEqual([{ code: 1000, reason: 'Normal Closure' }]);
  });

  it('fails every running operation with the close code when the socket closes, and answers pings', async () => {
    const subgraph = await peer((message, socket) => {
      ack(message, socket);
      if (message.type === 'subscribe' && message.id === '2') socket.send(JSON.stringify({ type: 'ping' }));
    });
    const connection = new SubgraphConnection({ url: subgraph.url, connectionParams: {} });
    const a = recorder();
    const b = recorder();
    connection.subscribe('1', { query }, a.sink);
    connection.subscribe('2', { query }, b.sink);
    await until(() => subgraph.received.some((m) => m.type === 'pong'), 'pong');
    subgraph.sockets[0]!.close(1001, 'Server shutting down');
    await until(() => a.failures.length + b.failures.length === 2, 'both failed');
    expect(a.failures).toEqual([{ code: 1001, reason: 'Server shutting down' }]);
    expect(b.failures).toEqual([{ code: 1001, reason: 'Server shutting down' }]);
    expect([connection.size, connection.open]).toEqual([0, false]);
  });

  it('gives up on a subgraph that does not acknowledge in time, and on one that sends what the protocol does not allow', async () => {
    const silent = await peer(() => {});
    const waiting = new SubgraphConnection({ url: silent.url, connectionParams: {}, ackTimeoutMs: 50 });
    const a = recorder();
    waiting.subscribe('1', { query }, a.sink);
    await until(() => a.failures.length === 1, 'failed');
    expect(a.failures).toEqual([{ code: 4504, reason: 'Connection acknowledgement timeout' }]);

    for (const bad of ['{"not": "a message"}', 'null', 'not json', '{"id":"1","type":"next","payload":{"errors":"boom"}}', '{"id":"1","type":"error","payload":{"message":"boom"}}']) {
      const garbled = await peer((message, socket) => {
        ack(message, socket);
        if (message.type === 'subscribe') socket.send(bad);
      });
      const confused = new SubgraphConnection({ url: garbled.url, connectionParams: {} });
      const b = recorder();
      confused.subscribe('1', { query }, b.sink);
      await until(() => b.failures.length === 1, `failed on ${bad}`);
      expect(b.failures).toEqual([{ code: 4004, reason: 'Invalid message received' }]);
      expect(b.events).toEqual([]);
    }
  });

  it('pings an open socket: one that answers stays, one that stops answering is dropped within the pong timeout (1006) and the next operation gets a new socket', async () => {
    const answering = await peer();
    const alive = new SubgraphConnection({ url: answering.url, connectionParams: {}, pingIntervalMs: 20, pongTimeoutMs: 50 });
    const a = recorder();
    alive.subscribe('1', { query }, a.sink);
    await until(() => alive.open, 'open');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect([alive.open, a.failures, answering.connections]).toEqual([true, [], 1]);
    alive.close();

    // A peer that never pongs and sends nothing: what a half-open socket looks like from this end.
    const mute = await peer(ack, { autoPong: false });
    const connection = new SubgraphConnection({ url: mute.url, connectionParams: {}, pingIntervalMs: 20, pongTimeoutMs: 50 });
    const b = recorder();
    connection.subscribe('1', { query }, b.sink);
    await until(() => connection.open, 'open');
    const openedAt = performance.now();
    await until(() => b.failures.length === 1, 'dropped');
    // One ping interval and one pong timeout, with room for a busy machine's timers.
    expect(performance.now() - openedAt).toBeLessThan(20 + 50 + 500);
    expect(b.failures).toEqual([{ code: 1006, reason: 'Subgraph did not answer a ping within 50 ms' }]);
    expect([connection.size, connection.open]).toEqual([0, false]);
    const c = recorder();
    connection.subscribe('2', { query }, c.sink);
    await until(() => mute.connections === 2 && connection.open, 'a new socket');
    connection.close();
  });

  it('fails operations on a subgraph that cannot be reached', async () => {
    const gone = await peer();
    const { url } = gone;
    await gone.close();
    const connection = new SubgraphConnection({ url, connectionParams: {} });
    const a = recorder();
    connection.subscribe('1', { query }, a.sink);
    await until(() => a.failures.length === 1, 'failed');
    expect(a.failures[0]).toMatchObject({ code: 1006 });
  });
});
