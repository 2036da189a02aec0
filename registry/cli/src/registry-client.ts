/** How the CLI ends, for CI to gate on (README "Schema registry"). */
export const ExitCode = {
  /** The check passed, or the command did what it was asked. */
  OK: 0,
  /** The check failed: composition, a breaking change in use, a broken operation, a lint error, a breaking event contract change; or a publish was refused. */
  CHECK_FAILED: 1,
  /** Bad arguments, or input the registry refused (SDL that does not parse, unknown subgraph, unknown manifest format, too large). */
  USAGE: 2,
  /** The registry could not be reached, failed, or refused the token. */
  REGISTRY: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure that ends the command with its exit code and message. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface RegistryOptions {
  url: string;
  token: string;
  timeoutMs: number;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; reason?: string } }[];
}

/** Sends one operation to the registry; every way it can fail becomes a CliError with the right exit code. */
export async function callRegistry<T>(options: RegistryOptions, query: string, variables: Record<string, unknown>): Promise<T> {
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}`, 'apollographql-client-name': 'shopgraph-schema' },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = (error as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new CliError(ExitCode.REGISTRY, `The schema registry at ${options.url} is unreachable (${why}). Check REGISTRY_URL (or --registry) and that the registry is running.`);
  }
  if (response.status === 413) throw new CliError(ExitCode.USAGE, `The registry refused the upload as too large (HTTP 413): ${await errorMessageOf(response)}`);
  const body = (await response.json().catch(() => null)) as GraphQLResponse<T> | null;
  if (!body || (response.status >= 500 && !body.errors)) {
    throw new CliError(ExitCode.REGISTRY, `The schema registry at ${options.url} answered HTTP ${response.status} without a GraphQL response: is that the registry's /graphql URL?`);
  }
  const [error] = body.errors ?? [];
  if (error) {
    const code = error.extensions?.code;
    if (code === 'UNAUTHENTICATED') throw new CliError(ExitCode.REGISTRY, `The registry refused the token: ${error.message}. Set REGISTRY_TOKEN (or --token) to a registry token.`);
    if (code === 'FORBIDDEN') throw new CliError(ExitCode.REGISTRY, `The token may not do this: ${error.message}.`);
    if (code === 'BAD_USER_INPUT') throw new CliError(ExitCode.USAGE, `${error.message}${error.extensions?.reason ? ` [${error.extensions.reason}]` : ''}`);
    throw new CliError(ExitCode.REGISTRY, `The registry failed: ${error.message}${code ? ` [${code}]` : ''}`);
  }
  return body.data as T;
}

async function errorMessageOf(response: Response): Promise<string> {
  const body = (await response.json().catch(() => null)) as GraphQLResponse<unknown> | null;
  return body?.errors?.[0]?.message ?? response.statusText;
}
