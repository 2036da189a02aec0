/**
 * The router's calls to the schema registry (GraphQL over HTTP POST to REGISTRY_URL, a bearer
 * token with the `router` and `usage` scopes): its variant's supergraph, its trusted documents,
 * and usage reports. Every call has a timeout; a failure throws (callers retry, never crash).
 */

export interface RegistrySupergraph {
  /** sha256 hex of the SDL. */
  id: string;
  /** null when unchanged since `ifNotId`. */
  sdl: string | null;
  publishedAt: string;
}

export interface RegistryTrustedDocuments {
  /** The variant accepts registered operations only. */
  required: boolean;
  /** id = sha256 hex of body. */
  documents: { id: string; body: string }[];
}

export interface UsageReport {
  windowStart: string;
  windowEnd: string;
  operations: OperationUsage[];
}

export interface OperationUsage {
  clientName: string;
  clientVersion: string;
  operationName: string | null;
  documentId: string;
  count: number;
  errors: number;
  /** Schema coordinates the operation selects: `Type.field`. */
  fields: readonly string[];
}

export interface RegistryClient {
  /** null: the variant has no composed supergraph yet. */
  routerSupergraph(variant: string, ifNotId: string | undefined): Promise<RegistrySupergraph | null>;
  routerTrustedDocuments(variant: string): Promise<RegistryTrustedDocuments>;
  reportUsage(variant: string, report: UsageReport): Promise<void>;
}

const ROUTER_SUPERGRAPH = `query RouterSupergraph($variant: String!, $ifNotId: ID) {
  routerSupergraph(variant: $variant, ifNotId: $ifNotId) { id sdl publishedAt }
}`;
const ROUTER_TRUSTED_DOCUMENTS = `query RouterTrustedDocuments($variant: String!) {
  routerTrustedDocuments(variant: $variant) { required documents { id body } }
}`;
const REPORT_USAGE = `mutation ReportUsage($variant: String!, $report: UsageReportInput!) {
  reportUsage(variant: $variant, report: $report)
}`;

/** A registry call that failed: its GraphQL error code when it answered one (UNAUTHENTICATED, FORBIDDEN…). */
export class RegistryError extends Error {
  readonly code: string | undefined;

  constructor(message: string, code?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RegistryError';
    this.code = code;
  }
}

export function createRegistryClient({ url, token, timeoutMs }: { url: string; token: string | undefined; timeoutMs: number }): RegistryClient {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;

  async function call<T>(operationName: string, query: string, variables: Record<string, unknown>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, operationName, variables }), signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new RegistryError(`Registry ${url} unreachable: ${error instanceof Error ? error.message : String(error)}`, undefined, { cause: error });
    }
    const text = await response.text();
    let body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError(`Registry answered ${operationName} with HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
    }
    const error = body.errors?.[0];
    if (error) throw new RegistryError(`Registry refused ${operationName}: ${error.message}`, error.extensions?.code);
    if (!response.ok || !body.data) throw new RegistryError(`Registry answered ${operationName} with HTTP ${response.status}`);
    return body.data as T;
  }

  return {
    async routerSupergraph(variant, ifNotId) {
      const data = await call<{ routerSupergraph: RegistrySupergraph | null }>('RouterSupergraph', ROUTER_SUPERGRAPH, { variant, ifNotId: ifNotId ?? null });
      return data.routerSupergraph;
    },
    async routerTrustedDocuments(variant) {
      const data = await call<{ routerTrustedDocuments: RegistryTrustedDocuments }>('RouterTrustedDocuments', ROUTER_TRUSTED_DOCUMENTS, { variant });
      return data.routerTrustedDocuments;
    },
    async reportUsage(variant, report) {
      await call('ReportUsage', REPORT_USAGE, { variant, report });
    },
  };
}
