import WebSocket from 'ws';

/** A graphql-ws protocol message as it comes off the wire. */
export interface WsMessage {
  type: string;
  id?: string;
  payload?: any;
}

/**
 * A raw graphql-ws (`graphql-transport-ws`) client, so tests send exactly what they mean (ping
 * payloads, hostile documents) and see exactly what comes back, close codes included.
 */
export interface WsTestClient {
  socket: WebSocket;
  /** Resolves when the socket has closed, with the code and reason the server gave (1006: dropped without a close frame). */
  closed: Promise<{ code: number; reason: string }>;
  /** The connection_ack message (undefined if the server closed instead). */
  ack: WsMessage | undefined;
  send(message: WsMessage): void;
  subscribe(id: string, query: string, variables?: Record<string, unknown>, operationName?: string): void;
  /** Takes the first message not yet taken that matches; waits for one up to `timeoutMs` (default 10 s). */
  take(match?: (message: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage>;
  /** Takes the next message of an operation. */
  takeFor(id: string, timeoutMs?: number): Promise<WsMessage>;
  /** Messages received and not taken. */
  pending(): WsMessage[];
  /** Sends a ping carrying a fresh token and waits for its pong (the refresh took). */
  refresh(token: string): Promise<void>;
  close(): Promise<void>;
}

/** The WebSocket URL of an http(s) GraphQL URL: same host, port and path. */
export const webSocketUrlOf = (httpUrl: string): string => httpUrl.replace(/^http/, 'ws');

/**
 * Opens a socket to `url` (http or ws) and sends `connection_init` with `payload` (none when
 * undefined); resolves once acknowledged or closed (check `ack` / `closed`).
 */
export async function connectWs(url: string, payload?: Record<string, unknown>): Promise<WsTestClient> {
  const socket = new WebSocket(webSocketUrlOf(url), 'graphql-transport-ws');
  const inbox: WsMessage[] = [];
  const waiters = new Set<() => void>();
  let closedNow = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code: number, reason: Buffer) => {
      closedNow = true;
      resolve({ code, reason: reason.toString() });
      for (const wake of waiters) wake();
    });
  });
  socket.on('error', () => {}); // surfaced through `closed`
  socket.on('message', (data: Buffer) => {
    inbox.push(JSON.parse(data.toString()) as WsMessage);
    for (const wake of waiters) wake();
  });

  const take = async (match: (message: WsMessage) => boolean = () => true, timeoutMs = 10_000): Promise<WsMessage> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0]!;
      if (closedNow) throw new Error(`socket closed while waiting for a message; pending: ${JSON.stringify(inbox)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms; pending: ${JSON.stringify(inbox)}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        waiters.add(wake);
      });
    }
  };

  const client: WsTestClient = {
    socket,
    closed,
    ack: undefined,
    send: (message) => socket.send(JSON.stringify(message)),
    subscribe: (id, query, variables, operationName) => client.send({ id, type: 'subscribe', payload: { query, variables, operationName } }),
    take,
    takeFor: (id, timeoutMs) => take((m) => m.id === id, timeoutMs),
    pending: () => [...inbox],
    async refresh(token) {
      client.send({ type: 'ping', payload: { authorization: `Bearer ${token}` } });
      await take((m) => m.type === 'pong');
    },
    async close() {
      if (socket.readyState !== WebSocket.CLOSED) socket.close(1000);
      await closed;
    },
  };

  await new Promise<void>((resolve) => {
    socket.once('open', resolve);
    void closed.then(() => resolve());
  });
  if (closedNow) return client;
  client.send(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });
  client.ack = await Promise.race([take((m) => m.type === 'connection_ack', 10_000).catch(() => undefined), closed.then(() => undefined)]);
  return client;
}
