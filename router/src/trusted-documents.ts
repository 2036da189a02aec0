/**
 * Trusted documents (a persisted-query safelist): the operations registered for the router's
 * variant, by id (the sha256 hex of the body, as in Apollo's persisted-query manifests). When the
 * variant requires them, the router runs those and nothing else (pipeline.ts); either way a client
 * may send a registered operation by id alone (persisted-queries.ts).
 */

export interface TrustedDocuments {
  /** Only registered operations may run. */
  readonly required: boolean;
  /** A registered operation's body by id. */
  get(id: string): string | undefined;
  has(id: string): boolean;
}

/** Trusted documents the registry's latest answer holds; none, and not required, until then. */
export class TrustedDocumentStore implements TrustedDocuments {
  #required = false;
  #bodies: ReadonlyMap<string, string> = new Map();

  get required(): boolean {
    return this.#required;
  }

  get size(): number {
    return this.#bodies.size;
  }

  get(id: string): string | undefined {
    return this.#bodies.get(id);
  }

  has(id: string): boolean {
    return this.#bodies.has(id);
  }

  replace({ required, documents }: { required: boolean; documents: readonly { id: string; body: string }[] }): void {
    this.#bodies = new Map(documents.map(({ id, body }) => [id, body]));
    this.#required = required;
  }
}

/** No trusted documents: every operation may run (no registry). */
export const NO_TRUSTED_DOCUMENTS: TrustedDocuments = { required: false, get: () => undefined, has: () => false };
