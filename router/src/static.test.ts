import { createHttpServer, createLogger, listen, type Route } from '@shopgraph/kit';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphqlWsClientMount, staticRoutes } from './static.ts';

const logger = createLogger('static-test', 'silent');
let dir: string;
let server: Server;
let base: string;
let routes: Record<string, Route>;

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'static-'));
  dir = join(root, 'web');
  await mkdir(join(dir, 'docs'), { recursive: true });
  await mkdir(join(dir, '.private'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>home</title>');
  await writeFile(join(dir, 'app.js'), 'export {};');
  await writeFile(join(dir, 'app.css'), 'body {}');
  await writeFile(join(dir, 'docs', 'index.html'), 'docs');
  await writeFile(join(dir, 'docs', 'a b.txt'), 'spaced');
  await writeFile(join(dir, '.env'), 'SECRET=1');
  await writeFile(join(dir, '.private', 'key.txt'), 'SECRET');
  await writeFile(join(root, 'outside.txt'), 'SECRET');
  await symlink(join(root, 'outside.txt'), join(dir, 'link.txt'));
  routes = await staticRoutes([{ prefix: '/', dir }, graphqlWsClientMount, { prefix: '/missing/', dir: join(root, 'nope') }], logger);
  // Only the HTTP server: no GraphQL request is made.
  server = createHttpServer({ graphql: async () => { throw new Error('no GraphQL here'); }, logger, routes });
  base = await listen(server, 0);
});

afterAll(async () => {
  server?.close();
  if (dir) await rm(join(dir, '..'), { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers });

describe('static files', () => {
  it('serves the files, index.html at its directory, with their content types', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(home.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await home.text()).toContain('<title>home</title>');
    expect((await get('/index.html')).status).toBe(200);
    expect((await get('/app.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await get('/app.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await (await get('/docs/')).text()).toBe('docs');
    expect(await (await get('/docs/a%20b.txt')).text()).toBe('spaced');
    expect((await get('/app.js')).headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('revalidates with an ETag', async () => {
    const first = await get('/app.js');
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"/);
    const again = await get('/app.js', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers HEAD without a body', async () => {
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('10');
  });

  it('serves nothing outside the directory, no dotfiles, no symlinks', async () => {
    for (const path of ['/../outside.txt', '/%2e%2e/outside.txt', '/docs/..%2f..%2foutside.txt', '/.env', '/.private/key.txt', '/link.txt', '/docs', '/nope.html', '/missing/x']) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain('SECRET');
    }
    expect(Object.keys(routes).some((path) => path.includes('outside') || path.includes('.env') || path.includes('link'))).toBe(false);
  });

  it('serves the graphql-ws browser client as ES modules', async () => {
    const client = await get('/vendor/graphql-ws/client.js');
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const source = await client.text();
    expect(source).toContain('function createClient');
    // Its relative imports are served too.
    for (const [, imported] of source.matchAll(/from '\.\/([^']+)'/g)) expect((await get(`/vendor/graphql-ws/${imported}`)).status, imported).toBe(200);
    expect((await get('/vendor/graphql-ws/client.cjs')).status).toBe(404);
  });
});
