// A lean GraphQL-over-HTTP client for bench:attacks, as bench/saga/http.ts but with any body and
// headers per request: every simulated client has its own address (X-Forwarded-For, read by a
// router trusting one proxy hop), and attackers send raw, padded or forged requests.
import http from 'node:http';

export interface Answer {
  status: number;
  /** The first error's `extensions.code`, or a mutation payload's first `errors[].code`. */
  code?: string;
  body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

export interface HttpClient {
  post(body: string, headers?: Record<string, string>): Promise<Answer>;
  close(): void;
}

/** The code a refusal (or a payload's typed error) carries, for counting. */
export function codeOf(answer: Omit<Answer, 'code'>): string | undefined {
  const error = answer.body.errors?.[0]?.extensions?.code;
  if (error) return error;
  for (const payload of Object.values(answer.body.data ?? {})) {
    const typed = (payload as { errors?: { code?: string }[] } | null)?.errors?.[0]?.code;
    if (typed) return typed;
  }
  return undefined;
}

export function httpClient(url: string, options: { maxSockets: number; timeoutMs: number }): HttpClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const target = new URL(url);
  const send = (body: string, headers: Record<string, string>, mayRetry: boolean): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = http.request(target, { method: 'POST', agent, timeout: options.timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let parsed: Answer['body'];
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'];
          } catch {
            parsed = {};
          }
          const answer = { status: res.statusCode ?? 0, body: parsed };
          resolve({ ...answer, code: codeOf(answer) });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed as idle just as it was reused: the request never arrived.
        if (mayRetry && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) resolve(send(body, headers, false));
        else reject(error);
      });
      req.end(body);
    });
  return { post: (body, headers = {}) => send(body, headers, true), close: () => agent.destroy() };
}

/** A distinct client address per index (TEST-NET and private ranges: never a real client). */
export const addressOf = (network: 'legit' | 'attack', index: number): string =>
  network === 'legit' ? `10.1.${(index >> 8) & 255}.${index & 255}` : `198.18.${(index >> 8) & 255}.${index & 255}`;
