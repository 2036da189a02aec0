// bench:attacks' GraphQL-over-HTTP client, on bench/saga/http.ts' poster: any body and headers per
// request (every simulated client has its own address, X-Forwarded-For, read by a router trusting
// one proxy hop; attackers send raw, padded or forged requests), answers counted by code.
import { httpPoster } from '../saga/http.ts';

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
  const poster = httpPoster(url, options);
  return {
    async post(body, headers = {}) {
      const { status, text } = await poster.post(body, headers);
      let parsed: Answer['body'];
      try {
        parsed = JSON.parse(text) as Answer['body'];
      } catch {
        parsed = {}; // an attacker counts what it got back, JSON or not
      }
      const answer = { status, body: parsed };
      return { ...answer, code: codeOf(answer) };
    },
    close: poster.close,
  };
}

/** A distinct client address per index (TEST-NET and private ranges: never a real client). */
export const addressOf = (network: 'legit' | 'attack', index: number): string =>
  network === 'legit' ? `10.1.${(index >> 8) & 255}.${index & 255}` : `198.18.${(index >> 8) & 255}.${index & 255}`;
