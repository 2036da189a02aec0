import { createLogger } from '@shopgraph/core/log';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from './redis.ts';

const logger = createLogger('redis-tls-test', 'silent');
const open: { server: Server; client?: RedisClient }[] = [];
afterEach(async () => {
  for (const { server, client } of open.splice(0)) {
    await client?.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** What a client connecting to `scheme://…` sends first, read by a TCP server that never answers. */
async function firstBytes(scheme: string): Promise<{ bytes: Buffer; client: RedisClient }> {
  let received!: (bytes: Buffer) => void;
  const first = new Promise<Buffer>((resolve) => (received = resolve));
  const server = createServer((socket) => socket.once('data', received));
  const entry: (typeof open)[number] = { server };
  open.push(entry);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = (entry.client = createRedis({ url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`, name: 'tls-test', logger, connectTimeoutMs: 5_000 }));
  return { bytes: await first, client };
}

describe('createRedis over TLS', () => {
  it('speaks TLS to a rediss:// URL (whatever its case) and plain RESP to redis://', async () => {
    for (const scheme of ['rediss', 'REDISS']) {
      const { bytes, client } = await firstBytes(scheme);
      expect(bytes[0], `${scheme}: a TLS handshake record`).toBe(0x16);
      expect(client.redis.options.tls, scheme).toBeTruthy();
    }
    const { bytes, client } = await firstBytes('redis');
    expect(bytes.toString('latin1').charAt(0), 'a RESP command').toBe('*');
    expect(client.redis.options.tls).toBeFalsy();
  });
});
