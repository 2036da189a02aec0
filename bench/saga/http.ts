// A lean GraphQL-over-HTTP client for the load generator: node:http with keep-alive (cheaper per
// request than fetch, so the load generator steals less CPU from the services on a small box).
import http from 'node:http';

export interface GraphQLResult {
  status: number;
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export function graphqlClient(url: string, options: { maxSockets: number; timeoutMs: number }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const target = new URL(url);
  const post = (query: string, variables: Record<string, unknown>, token?: string): Promise<GraphQLResult> => send(JSON.stringify({ query, variables }), token, true);
  const send = (body: string, token: string | undefined, mayRetry: boolean): Promise<GraphQLResult> => {
    return new Promise((resolve, reject) => {
      const req = http.request(
        target,
        {
          method: 'POST',
          agent,
          timeout: options.timeoutMs,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(token ? { authorization: `Bearer ${token}` } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, ...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<GraphQLResult, 'status'>) });
            } catch (error) {
              reject(new Error(`HTTP ${res.statusCode}: not JSON`, { cause: error }));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed as idle just as we reused it (Node's documented race):
        // the request never reached the server, so sending it again on a fresh socket is safe.
        if (mayRetry && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) resolve(send(body, token, false));
        else reject(error);
      });
      req.end(body);
    });
  };
  return { post, close: () => agent.destroy() };
}
