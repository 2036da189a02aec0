import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpClient, type HttpClient } from './http-client.ts';

describe('httpClient', () => {
  const open: Array<{ server: Server; client: HttpClient }> = [];
  afterEach(async () => {
    for (const { server, client } of open.splice(0)) {
      client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
  async function serve(listener: RequestListener, timeoutMs = 5_000) {
    const server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = httpClient(timeoutMs);
    open.push({ server, client });
    return { client, server, url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql?x=1`) };
  }

  it('POSTs the body and headers, and answers with the status, lower-cased headers and whole body', async () => {
    const seen: Array<{ method?: string; url?: string; authorization?: string; body: string }> = [];
    const { client, url } = await serve((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body });
        res.writeHead(207, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=5' });
        // A multi-byte character split across two chunks must come out whole.
        const text = Buffer.from('{"data":{"name":"Crème brûlée"}}');
        res.write(text.subarray(0, 20));
        setTimeout(() => res.end(text.subarray(20)), 20);
      });
    });
    const response = await client.post(url, { authorization: 'Bearer t', 'content-type': 'application/json' }, '{"query":"{ a }"}');
    expect(response).toMatchObject({ status: 207, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=5' }, body: '{"data":{"name":"Crème brûlée"}}' });
    expect(seen).toEqual([{ method: 'POST', url: '/graphql?x=1', authorization: 'Bearer t', body: '{"query":"{ a }"}' }]);
  });

  it('fails a request whose answer does not start within the timeout', async () => {
    const { client, url } = await serve(() => {}, 200);
    await expect(client.post(url, {}, '{}')).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
  });

  it('fails a request whose answer stalls midway for longer than the timeout', async () => {
    const { client, url } = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).write('{"data":'), 200);
    await expect(client.post(url, {}, '{}')).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
  });

  it('fails a request given its own timeout when that has passed, to the millisecond, and aborts it', async () => {
    let closed = 0;
    const { client, url } = await serve((req) => req.socket.on('close', () => closed++), 5_000);
    const started = performance.now();
    await expect(client.post(url, {}, '{}', 150)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(149);
    expect(performance.now() - started).toBeLessThan(400);
    await expect.poll(() => closed).toBe(1);
  });

  it('fails a request to a server that is not listening', async () => {
    const { client, server, url } = await serve(() => {});
    server.close();
    await expect(client.post(url, {}, '{}')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
