import { createLogger } from '@shopgraph/core/log';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RegistryError, type RegistryClient, type RegistrySupergraph, type RegistryTrustedDocuments } from './registry-client.ts';
import { registrySupergraph, supergraphFile, supergraphId, type SupergraphVersion } from './supergraph-source.ts';
import { TrustedDocumentStore } from './trusted-documents.ts';

const logger = createLogger('test', 'silent');

/** A registry whose answers the test sets; `down` makes every call fail. */
function fakeRegistry() {
  const state = { sdl: undefined as string | undefined, down: false, trusted: { required: false, documents: [] } as RegistryTrustedDocuments, calls: [] as (string | undefined)[] };
  const client: RegistryClient = {
    async routerSupergraph(_variant, ifNotId) {
      state.calls.push(ifNotId);
      if (state.down) throw new RegistryError('Registry unreachable: ECONNREFUSED');
      if (state.sdl === undefined) return null;
      const id = supergraphId(state.sdl);
      return { id, sdl: id === ifNotId ? null : state.sdl, publishedAt: new Date().toISOString() } satisfies RegistrySupergraph;
    },
    async routerTrustedDocuments() {
      if (state.down) throw new RegistryError('Registry unreachable: ECONNREFUSED');
      return state.trusted;
    },
    async reportUsage() {},
  };
  return { state, client };
}

const options = (client: RegistryClient, overrides: Partial<Parameters<typeof registrySupergraph>[0]> = {}) => ({
  client, url: 'http://registry.test/graphql', variant: 'dev', pollMs: 20, startupTimeoutMs: 300, retryMs: 10, trustedDocuments: new TrustedDocumentStore(), logger, ...overrides,
});
const until = async (check: () => boolean) => {
  for (const deadline = Date.now() + 2_000; !check(); await new Promise((r) => setTimeout(r, 5))) if (Date.now() > deadline) throw new Error('timed out');
};

describe('registrySupergraph', () => {
  it('waits at start-up for a first supergraph, then hands each new one over once, asking with ifNotId', async () => {
    const { state, client } = fakeRegistry();
    state.down = true;
    const source = registrySupergraph(options(client));
    const updates: SupergraphVersion[] = [];
    const started = source.start((v) => updates.push(v));
    setTimeout(() => (state.down = false), 40);
    setTimeout(() => (state.sdl = 'sdl-1'), 80);
    expect(await started).toEqual({ id: supergraphId('sdl-1'), sdl: 'sdl-1' });
    await until(() => state.calls.at(-1) === supergraphId('sdl-1'));
    state.sdl = 'sdl-2';
    await until(() => updates.length === 1);
    expect(updates).toEqual([{ id: supergraphId('sdl-2'), sdl: 'sdl-2' }]);
    await new Promise((r) => setTimeout(r, 60));
    expect(updates).toHaveLength(1);
    source.close();
  });

  it('fails start-up naming the registry, the variant and why, when none comes in time', async () => {
    const { state, client } = fakeRegistry();
    state.down = true;
    await expect(registrySupergraph(options(client)).start(() => {})).rejects.toThrow(/no supergraph from the registry http:\/\/registry.test\/graphql for variant "dev" within 300 ms \(Registry unreachable: ECONNREFUSED\).*SUPERGRAPH_PATH/);
    state.down = false;
    await expect(registrySupergraph(options(client)).start(() => {})).rejects.toThrow(/variant "dev" has no composed supergraph yet/);
  });

  it('falls back to SUPERGRAPH_PATH when given, and takes the registry\'s once it answers', async () => {
    const { state, client } = fakeRegistry();
    state.down = true;
    const path = join(mkdtempSync(join(tmpdir(), 'router-')), 'supergraph.graphql');
    writeFileSync(path, 'from-file');
    const updates: SupergraphVersion[] = [];
    const source = registrySupergraph(options(client, { fallback: supergraphFile(path) }));
    expect(await source.start((v) => updates.push(v))).toEqual({ id: supergraphId('from-file'), sdl: 'from-file' });
    state.down = false;
    state.sdl = 'from-registry';
    await until(() => updates.length === 1);
    expect(updates[0]!.sdl).toBe('from-registry');
    source.close();
  });

  it('once running, a registry that goes away is retried with backoff, never fatal, and followed again when back', async () => {
    const { state, client } = fakeRegistry();
    state.sdl = 'v1';
    const updates: SupergraphVersion[] = [];
    const source = registrySupergraph(options(client));
    await source.start((v) => updates.push(v));
    state.down = true;
    const before = state.calls.length;
    await new Promise((r) => setTimeout(r, 300));
    // Backoff: 20, 40, 80, 160 ms… far fewer calls than one per 20 ms.
    expect(state.calls.length - before).toBeLessThanOrEqual(6);
    state.down = false;
    state.sdl = 'v2';
    await until(() => updates.length === 1);
    expect(updates[0]!.sdl).toBe('v2');
    source.close();
  });

  it('keeps the trusted documents up to date', async () => {
    const { state, client } = fakeRegistry();
    state.sdl = 'v1';
    const trustedDocuments = new TrustedDocumentStore();
    state.trusted = { required: true, documents: [{ id: 'a', body: '{ a }' }] };
    const source = registrySupergraph(options(client, { trustedDocuments }));
    await source.start(() => {});
    expect(trustedDocuments.required).toBe(true);
    expect(trustedDocuments.get('a')).toBe('{ a }');
    state.trusted = { required: false, documents: [] };
    await until(() => !trustedDocuments.required);
    expect(trustedDocuments.has('a')).toBe(false);
    source.close();
  });
});
