import { createServer, connect, type Socket } from 'node:net';

/**
 * A TCP pass-through to a service (Postgres, Redis…) that a test can cut: `cut()` drops every open
 * connection and every new one until `restore()`, as a network partition or a restarting server
 * would look to the client. `blackhole()` stops forwarding without closing anything: open
 * connections stay open in both directions but carry nothing, and new ones are accepted but reach
 * nothing, as a path that silently drops packets (a half-open connection) looks to the client;
 * `restore()` delivers what was held and forwards again. Point the client at `url` (the target URL
 * with the proxy's port).
 */
export interface Outage {
  readonly url: string;
  cut(): void;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
}

export async function outageProxy(targetUrl: string): Promise<Outage> {
  const target = new URL(targetUrl);
  const port = Number(target.port || 5432);
  const open = new Set<Socket>();
  const pairs = new Set<Pair>();
  let mode: 'up' | 'cut' | 'blackhole' = 'up';
  const track = (pair: Pair, socket: Socket) => {
    open.add(socket);
    const destroyAll = () => {
      pairs.delete(pair);
      pair.client.destroy();
      pair.upstream?.destroy();
    };
    socket.on('error', destroyAll);
    socket.on('close', () => {
      open.delete(socket);
      destroyAll();
    });
  };
  const forward = (pair: Pair) => {
    if (!pair.upstream) track(pair, (pair.upstream = connect(port, target.hostname)));
    pair.client.pipe(pair.upstream).pipe(pair.client);
  };
  // Held bytes stay in the sockets' buffers (and the kernel's): nothing is lost, nothing moves.
  const hold = ({ client, upstream }: Pair) => {
    client.unpipe();
    upstream?.unpipe();
    client.pause();
    upstream?.pause();
  };
  const server = createServer((client) => {
    if (mode === 'cut') return void client.destroy();
    const pair: Pair = { client };
    pairs.add(pair);
    track(pair, client);
    if (mode === 'blackhole') client.pause();
    else forward(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return {
    url: url.toString(),
    cut() {
      mode = 'cut';
      for (const socket of open) socket.destroy();
    },
    blackhole() {
      mode = 'blackhole';
      for (const pair of pairs) hold(pair);
    },
    restore() {
      const was = mode;
      mode = 'up';
      if (was === 'blackhole') for (const pair of pairs) forward(pair);
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
