// A lean GraphQL-over-HTTP client for the load generator: node:http with keep-alive (cheaper per
// request than fetch, so the load generator steals less CPU from the services on a small box).
import http from 'node:http';

export interface GraphQLResult {
  status: number;
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** POSTs a body with headers to one URL over kept-alive sockets; answers with the status and the text. */
export function httpPoster(url: string, options: { maxSockets: number; timeoutMs: number }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const target = new URL(url);
  const send = (body: string, headers: Record<string, string>, mayRetry: boolean): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        target,
        { method: 'POST', agent, timeout: options.timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed as idle just as we reused it (Node's documented race):
        // the request never reached the server, so sending it again on a fresh socket is safe.
        if (mayRetry && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) resolve(send(body, headers, false));
        else reject(error);
      });
      req.end(body);
    });
  return { post: (body: string, headers: Record<string, string> = {}) => send(body, headers, true), close: () => agent.destroy() };
}

export function graphqlClient(url: string, options: { maxSockets: number; timeoutMs: number }) {
  const poster = httpPoster(url, options);
  const post = async (query: string, variables: Record<string, unknown>, token?: string): Promise<GraphQLResult> => {
    const { status, text } = await poster.post(JSON.stringify({ query, variables }), token ? { authorization: `Bearer ${token}` } : {});
    try {
      return { status, ...(JSON.parse(text) as Omit<GraphQLResult, 'status'>) };
    } catch (error) {
      throw new Error(`HTTP ${status}: not JSON`, { cause: error });
    }
  };
  return { post, close: poster.close };
}
