// A stand-in schema registry for the usage-reporting gateway (`router-usage`): it serves each graph's
// supergraph (the variant is the graph's name), no trusted documents, and takes usage reports,
// counting them. It runs in the harness process, on the load core, so the gateway core pays only
// for what the router itself does to record and send usage.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface RegistryStub {
  url: string;
  /** Reports received, and the requests they counted. */
  received(): { reports: number; requests: number };
  close(): Promise<void>;
}

export async function startRegistryStub(supergraphPathOf: (variant: string) => string): Promise<RegistryStub> {
  let reports = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const { operationName, variables } = JSON.parse(Buffer.concat(chunks).toString()) as { operationName: string; variables: { variant: string; ifNotId?: string; report?: { operations: { count: number }[] } } };
      let data: unknown;
      if (operationName === 'RouterSupergraph') {
        const sdl = readFileSync(supergraphPathOf(variables.variant), 'utf8');
        const id = createHash('sha256').update(sdl).digest('hex');
        data = { routerSupergraph: { id, sdl: id === variables.ifNotId ? null : sdl, publishedAt: new Date(0).toISOString() } };
      } else if (operationName === 'RouterTrustedDocuments') {
        data = { routerTrustedDocuments: { required: false, documents: [] } };
      } else if (operationName === 'ReportUsage') {
        reports++;
        for (const operation of variables.report?.operations ?? []) requests += operation.count;
        data = { reportUsage: true };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(data ? { data } : { errors: [{ message: `unknown operation ${operationName}` }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    received: () => ({ reports, requests }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
