import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, type FormattedExecutionResult, type SubscribePayload } from 'graphql-ws';
import type { GraphQLFormattedError } from 'graphql';
import WebSocket from 'ws';
import { isObject } from './response-shape.ts';

const areErrors = (value: unknown): value is GraphQLFormattedError[] =>
  Array.isArray(value) && value.length > 0 && value.every((error) => isObject(error) && typeof error.message === 'string');
const isResult = (value: unknown): value is FormattedExecutionResult =>
  isObject(value) && (value.errors === undefined || areErrors(value.errors));

/** How an operation on the connection ended other than by `complete`. */
export type OperationFailure =
  /** The subgraph refused or ended it with an `error` message. */
  | { errors: GraphQLFormattedError[] }
  /** The connection closed (or never opened) while it ran. */
  | { code: number; reason: string };

/** Receives one operation's messages. */
export interface OperationSink {
  next(result: FormattedExecutionResult): void;
  error(failure: OperationFailure): void;
  complete(): void;
}

export interface SubgraphConnectionOptions {
  /** ws:// or wss:// */
  url: string;
  /** The `connection_init` payload. */
  connectionParams: Record<string, unknown>;
  /** Close this long after the last operation ended (clients' churn reuses the socket). */
  idleCloseMs?: number;
  /** How long connecting (TCP, the upgrade and `connection_ack`) may take; default 10 s. */
  ackTimeoutMs?: number;
  /** How often an open socket is pinged; default 10 s. */
  pingIntervalMs?: number;
  /**
   * A socket that sends nothing (no pong, no message) this long after a ping is taken for dead and
   * dropped, its operations failing with 1006: a half-open connection (a peer gone without a FIN or
   * RST, a network path that stopped forwarding) would otherwise look alive for as long as the
   * kernel keeps retransmitting, with every subscription on it silently starved. Default 5 s.
   */
  pongTimeoutMs?: number;
}

/** The close code operations fail with when their socket stopped answering pings. */
export const UNRESPONSIVE_CLOSE_CODE = 1006;

interface Operation {
  sink: OperationSink;
  payload: SubscribePayload;
  /** The subscribe message has gone out (an operation added while connecting waits for the ack). */
  sent: boolean;
}

/**
 * The client side of graphql-ws's protocol (graphql-transport-ws) for one router-to-subgraph
 * connection carrying many operations. graphql-ws's own client keeps an async task, its promises and
 * a dozen closures per subscription; with 10,000s of subscriptions on one connection that was the
 * largest part of the router's memory per client. This keeps a map entry per operation.
 *
 * Connects with the first operation and closes `idleCloseMs` after the last. Never reconnects: when
 * the socket closes, every operation on it fails with the close code, and the next `subscribe` opens
 * a new socket (a silent resubscription could miss or repeat events; clients resume with a cursor).
 * Every connect is bounded (`ackTimeoutMs`), and an open socket is pinged: one that stops answering
 * is dropped like a closed one (`pongTimeoutMs`), so the next `subscribe` gets a fresh socket.
 */
export class SubgraphConnection {
  readonly #options: SubgraphConnectionOptions;
  readonly #operations = new Map<string, Operation>();
  #socket: WebSocket | undefined;
  #acknowledged = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SubgraphConnectionOptions) {
    this.#options = options;
  }

  /** Operations running now. */
  get size(): number {
    return this.#operations.size;
  }

  /** Whether a socket is open and acknowledged. */
  get open(): boolean {
    return this.#acknowledged;
  }

  /**
   * Starts an operation under `id` (unique on this connection). The payload is read when the
   * subscribe message goes out, so a change made before the connection is acknowledged goes with it.
   * Returns its stop (sends `complete` if it was sent; nothing reaches the sink after).
   */
  subscribe(id: string, payload: SubscribePayload, sink: OperationSink): () => void {
    const operation: Operation = { sink, payload, sent: false };
    this.#operations.set(id, operation);
    clearTimeout(this.#timer);
    if (!this.#socket) this.#connect();
    else if (this.#acknowledged) this.#send(id, operation);
    return () => {
      if (this.#operations.get(id) !== operation) return;
      this.#end(id);
      if (operation.sent) this.#write({ id, type: MessageType.Complete });
    };
  }

  /** Sends a `ping` with `payload` (a no-op unless acknowledged). */
  ping(payload: Record<string, unknown>): void {
    if (this.#acknowledged) this.#write({ type: MessageType.Ping, payload });
  }

  /** Closes the socket now; running operations fail with 1000. */
  close(): void {
    clearTimeout(this.#timer);
    this.#socket?.close(1000, 'Normal Closure');
  }

  #connect(): void {
    const { url, connectionParams, ackTimeoutMs = 10_000 } = this.#options;
    const socket = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL, { perMessageDeflate: false });
    this.#socket = socket;
    const ackTimer = setTimeout(() => {
      // Said now, whatever the socket is at (an upgrade that never answers closes as 1006 otherwise).
      this.#closed(socket, CloseCode.ConnectionAcknowledgementTimeout, 'Connection acknowledgement timeout');
      socket.close(CloseCode.ConnectionAcknowledgementTimeout, 'Connection acknowledgement timeout');
    }, ackTimeoutMs);
    const liveness = this.#watch(socket);
    socket.on('open', () => this.#write({ type: MessageType.ConnectionInit, payload: connectionParams }));
    socket.on('message', (data) => {
      liveness.heard();
      // A retired socket's last messages are not this connection's any more.
      if (this.#socket === socket) this.#receive(socket, String(data), () => clearTimeout(ackTimer));
    });
    // Always followed by 'close', which fails the operations.
    socket.on('error', () => {});
    socket.once('close', (code, reason) => {
      clearTimeout(ackTimer);
      liveness.stop();
      this.#closed(socket, code, String(reason));
    });
  }

  /**
   * Pings an open socket every `pingIntervalMs` (WebSocket ping frames: the subgraph's server
   * answers them itself, whatever its graphql-ws code does) and drops it when nothing at all comes
   * back within `pongTimeoutMs`. Any frame counts as an answer: a busy socket is alive.
   */
  #watch(socket: WebSocket): { heard(): void; stop(): void } {
    const { pingIntervalMs = 10_000, pongTimeoutMs = 5_000 } = this.#options;
    let waiting: NodeJS.Timeout | undefined;
    const heard = () => {
      clearTimeout(waiting);
      waiting = undefined;
    };
    const pinger = setInterval(() => {
      if (waiting || socket.readyState !== WebSocket.OPEN) return;
      socket.ping();
      waiting = setTimeout(() => {
        this.#closed(socket, UNRESPONSIVE_CLOSE_CODE, `Subgraph did not answer a ping within ${pongTimeoutMs} ms`);
        socket.terminate();
      }, pongTimeoutMs);
      waiting.unref();
    }, pingIntervalMs);
    pinger.unref();
    socket.on('pong', heard);
    return {
      heard,
      stop: () => {
        clearInterval(pinger);
        heard();
      },
    };
  }

  #receive(socket: WebSocket, data: string, acknowledged: () => void): void {
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      message = undefined;
    }
    if (!isObject(message)) return socket.close(CloseCode.BadResponse, 'Invalid message received');
    const operation = typeof message.id === 'string' ? this.#operations.get(message.id) : undefined;
    switch (message.type) {
      case MessageType.ConnectionAck:
        acknowledged();
        this.#acknowledged = true;
        for (const [id, waiting] of this.#operations) if (!waiting.sent) this.#send(id, waiting);
        return;
      case MessageType.Ping:
        return this.#write({ type: MessageType.Pong });
      case MessageType.Pong:
        return;
      case MessageType.Next:
        if (!isResult(message.payload)) break;
        return operation?.sink.next(message.payload);
      case MessageType.Error:
        if (!areErrors(message.payload)) break;
        if (!operation) return;
        this.#end(message.id as string);
        return operation.sink.error({ errors: message.payload });
      case MessageType.Complete:
        if (!operation) return;
        this.#end(message.id as string);
        return operation.sink.complete();
    }
    // An unknown type, or a payload not shaped as the protocol says: the subgraph is not speaking it.
    socket.close(CloseCode.BadResponse, 'Invalid message received');
  }

  #send(id: string, operation: Operation): void {
    operation.sent = true;
    this.#write({ id, type: MessageType.Subscribe, payload: operation.payload });
  }

  #end(id: string): void {
    this.#operations.delete(id);
    if (this.#operations.size || !this.#socket) return;
    this.#timer = setTimeout(() => this.#retire(), this.#options.idleCloseMs ?? 2_000);
    this.#timer.unref();
  }

  /** Idle: let go of the socket at once, so an operation started while it closes opens a new one. */
  #retire(): void {
    const socket = this.#socket!;
    this.#forget();
    socket.close(1000, 'Normal Closure');
  }

  #forget(): void {
    clearTimeout(this.#timer);
    this.#socket = undefined;
    this.#acknowledged = false;
  }

  #write(message: object): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  #closed(socket: WebSocket, code: number, reason: string): void {
    if (this.#socket !== socket) return;
    this.#forget();
    const failed = [...this.#operations.values()];
    this.#operations.clear();
    for (const { sink } of failed) sink.error({ code, reason });
  }
}
