import type { ExecutionResult, GraphQLError } from 'graphql';
import type { Identity } from './auth.ts';
import { ErrorCode, graphqlError } from './errors.ts';

/**
 * A caller on a long-lived connection or stream (graphql-ws, SSE, multipart): the identity of its
 * latest accepted token, which it never outlives: at the token's `exp` it expires, unless a fresh
 * token for the same user was accepted before.
 */

/** One authenticated connection: the caller as of its latest accepted token. */
export class Session {
  #identity: Identity;
  #authorization: string;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #expire: () => void;
  readonly #onRefresh = new Set<(session: Session) => void>();
  readonly #onClose = new Set<() => void>();

  constructor(identity: Identity, authorization: string, expire: () => void) {
    this.#identity = identity;
    this.#authorization = authorization;
    this.#expire = expire;
    this.#arm();
  }

  get identity(): Identity {
    return this.#identity;
  }

  /** The verified `Authorization` value (`Bearer …`), for calls made on the caller's behalf. */
  get authorization(): string {
    return this.#authorization;
  }

  get expired(): boolean {
    return this.#identity.expiresAt * 1000 <= Date.now();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs after each accepted token refresh; returns an unsubscribe function. */
  onRefresh(listener: (session: Session) => void): () => void {
    this.#onRefresh.add(listener);
    return () => this.#onRefresh.delete(listener);
  }

  /** Runs once, when the socket has closed (after its operations were stopped). */
  onClose(listener: () => void): () => void {
    if (this.#closed) {
      listener();
      return () => {};
    }
    this.#onClose.add(listener);
    return () => this.#onClose.delete(listener);
  }

  refresh(identity: Identity, authorization: string): void {
    this.#identity = identity;
    this.#authorization = authorization;
    this.#arm();
    for (const listener of this.#onRefresh) listener(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const listener of this.#onClose) listener();
    this.#onClose.clear();
    this.#onRefresh.clear();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    // setTimeout holds at most ~24.8 days; a longer-lived token re-arms when that fires.
    const delay = Math.min(Math.max(this.#identity.expiresAt * 1000 - Date.now(), 0), 2 ** 31 - 1);
    this.#timer = setTimeout(() => (this.expired ? this.#expire() : this.#arm()), delay);
    this.#timer.unref();
  }
}

/** The `Authorization` value in a `connection_init` or `ping` payload, if any. */
export function authorizationOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const fields = payload as Record<string, unknown>;
  const header = fields['authorization'] ?? fields['Authorization'];
  if (typeof header === 'string' && header) return header;
  const token = fields['token'];
  if (typeof token === 'string' && token) return `Bearer ${token}`;
  return undefined;
}

/** An operation on a shared connection: its own session, and a way to end it from the server. */
export interface SharedOperation {
  session: Session;
  /** Ends the operation's stream with one last result carrying `error` (expiry, a refused refresh). */
  end(error: GraphQLError): void;
  /** The stream the operation's results flow through, ended by `end`. */
  bind(source: AsyncIterator<ExecutionResult>): AsyncIterableIterator<ExecutionResult>;
}

export function sharedOperation(identity: Identity, authorization: string): SharedOperation {
  let ending: GraphQLError | undefined;
  let wake = () => {};
  const ended = new Promise<void>((resolve) => (wake = resolve));
  const end = (error: GraphQLError) => {
    if (ending) return;
    ending = error;
    session.close();
    wake();
  };
  const session = new Session(identity, authorization, () => end(graphqlError(ErrorCode.UNAUTHENTICATED, 'Token expired')));
  const bind = (source: AsyncIterator<ExecutionResult>): AsyncIterableIterator<ExecutionResult> => {
    let finished = false;
    const finish = async (): Promise<IteratorResult<ExecutionResult>> => {
      if (!finished) {
        finished = true;
        await source.return?.();
      }
      return { value: undefined, done: true };
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        if (finished) return { value: undefined, done: true };
        const next = await Promise.race([source.next(), ended.then(() => undefined)]);
        if (next && !ending) return next;
        if (next?.done || finished) return finish();
        // The last result says why; the stream ends with the next call.
        void finish();
        return { value: { errors: [ending!] }, done: false };
      },
      return: finish,
      async throw(error: unknown) {
        await finish();
        throw error;
      },
    };
  };
  return { session, end, bind };
}

