import { createServer, connect, type Socket } from 'node:net';

/**
 * A TCP pass-through to a service (Postgres, Redis…) that a test can cut: `cut()` drops every open
 * connection and every new one until `restore()`, as a network partition or a restarting server
 * would look to the client. Point the client at `url` (the target URL with the proxy's port).
 */
export interface Outage {
  readonly url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function outageProxy(targetUrl: string): Promise<Outage> {
  const target = new URL(targetUrl);
  const port = Number(target.port || 5432);
  const open = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(port, target.hostname);
    const pair = [client, upstream];
    for (const socket of pair) {
      open.add(socket);
      socket.on('error', () => pair.forEach((s) => s.destroy()));
      socket.on('close', () => {
        open.delete(socket);
        pair.forEach((s) => s.destroy());
      });
    }
    client.pipe(upstream).pipe(client);
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
      down = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      down = false;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
