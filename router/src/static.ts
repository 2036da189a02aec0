import type { Route } from '@shopgraph/core/http';
import type { Logger } from '@shopgraph/core/log';
import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';

/** A directory served under a URL prefix. */
export interface StaticMount {
  /** URL path the directory appears under, starting and ending with `/` (e.g. `/` or `/vendor/lib/`). */
  prefix: string;
  dir: string;
  /** Which files to serve, by path relative to `dir` (`/`-separated); default: all. Dotfiles never are. */
  include?: (path: string) => boolean;
  /** Default `no-cache`: browsers keep a copy but revalidate it (ETag), so a changed file shows at once. */
  cacheControl?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Pages may load scripts, styles, images and connections (HTTP and WebSocket) from this origin only. */
const PAGE_POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** graphql-ws's browser client as ES modules (`/vendor/graphql-ws/client.js`), for pages that talk to this server over WebSocket. */
export const graphqlWsClientMount: StaticMount = {
  prefix: '/vendor/graphql-ws/',
  dir: dirname(createRequire(import.meta.url).resolve('graphql-ws/client')),
  include: (path) => path.endsWith('.js') && !path.includes('/'),
};

export const contentTypeOf = (path: string): string => CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';

/**
 * GET/HEAD routes (for the kit's `routes` option) serving the files of each mount's directory,
 * `index.html` also at its directory's path. The file list is read once, here: only files that
 * existed at start-up are served, by exact path, so nothing outside the directories is reachable
 * (`..`, encoded or not, symlinks and dotfiles included). Contents are read per request, with an
 * ETag and `If-None-Match` (304). A missing directory is logged and serves nothing.
 */
export async function staticRoutes(mounts: StaticMount[], logger: Logger): Promise<Record<string, Route>> {
  const routes: Record<string, Route> = {};
  for (const { prefix, dir, include = () => true, cacheControl = 'no-cache' } of mounts) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new Error(`A static prefix starts and ends with "/": ${prefix}`);
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { recursive: true, withFileTypes: true });
    } catch (error) {
      logger.warn({ dir, err: error }, 'static files directory not readable; serving none from it');
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue; // symlinks and directories are not served
      const file = join(entry.parentPath, entry.name);
      const path = relative(dir, file).split(sep).join('/');
      if (path.split('/').some((segment) => segment.startsWith('.')) || !include(path)) continue;
      // Keyed as the server sees request paths (percent-encoded the way URL encodes them).
      const route = fileRoute(file, cacheControl);
      routes[new URL(prefix + path, 'http://localhost').pathname] = route;
      if (entry.name === 'index.html') routes[new URL(prefix + path.slice(0, -'index.html'.length), 'http://localhost').pathname] = route;
    }
  }
  return routes;
}

function fileRoute(file: string, cacheControl: string): Route {
  const contentType = contentTypeOf(file);
  return async (req: IncomingMessage, res: ServerResponse) => {
    const stats = await lstat(file).catch(() => undefined);
    if (!stats?.isFile()) return notFound(res);
    const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    const headers: Record<string, string | number> = {
      'content-type': contentType,
      'cache-control': cacheControl,
      etag,
      'last-modified': stats.mtime.toUTCString(),
      'x-content-type-options': 'nosniff',
      ...(contentType.startsWith('text/html') ? { 'content-security-policy': PAGE_POLICY, 'referrer-policy': 'no-referrer' } : {}),
    };
    if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim() === etag)) {
      res.writeHead(304, headers);
      return void res.end();
    }
    const body = await readFile(file).catch(() => undefined);
    if (!body) return notFound(res);
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('not found');
}
