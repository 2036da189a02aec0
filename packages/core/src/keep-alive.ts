import type { WebSocket, WebSocketServer } from 'ws';

/**
 * WebSocket-level keep-alive for every socket of a server: one rolling sweep (not a timer per
 * socket) pings each socket once per interval and drops one that has not answered a ping for an
 * interval. A lap is TICKS ticks of the interval, each visiting its share of the sockets: pinging
 * 10,000s at once (and reading their pongs) would hold up deliveries.
 */
export class KeepAlive {
  static readonly TICKS = 50;
  readonly #wss: WebSocketServer;
  readonly #intervalMs: number;
  readonly #tickMs: number;
  /** Sockets pinged and not answered yet, with when. */
  readonly #awaitingPong = new Map<WebSocket, number>();
  readonly #timer: NodeJS.Timeout;
  // A Set's iterator is live: it skips sockets closed since and reaches those opened since.
  #lap: Iterator<WebSocket>;
  #tick = 0;
  readonly #onPong: (this: WebSocket) => void;

  constructor(wss: WebSocketServer, intervalMs: number) {
    this.#wss = wss;
    this.#intervalMs = intervalMs;
    this.#tickMs = intervalMs / KeepAlive.TICKS;
    this.#lap = wss.clients.values();
    const awaiting = this.#awaitingPong;
    this.#onPong = function (this: WebSocket) {
      awaiting.delete(this);
    };
    this.#timer = setInterval(() => this.#sweepSlice(), this.#tickMs);
    this.#timer.unref();
  }

  /** Starts watching a new socket (one listener shared by all sockets: nothing allocated per socket). */
  watch(socket: WebSocket): void {
    socket.on('pong', this.#onPong);
  }

  /** A closed socket is no longer waited for. */
  forget(socket: WebSocket): void {
    this.#awaitingPong.delete(socket);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #sweepSlice(): void {
    const clients = this.#wss.clients;
    if (this.#tick++ % KeepAlive.TICKS === 0) this.#lap = clients.values();
    const now = performance.now();
    for (let due = Math.ceil(clients.size / KeepAlive.TICKS); due > 0; due--) {
      const next = this.#lap.next();
      if (next.done) return;
      const socket = next.value;
      const pingedAt = this.#awaitingPong.get(socket);
      // Half a tick of slack: timers are late, never early, but a lap's ticks are not exact.
      if (pingedAt !== undefined) {
        if (now - pingedAt >= this.#intervalMs - this.#tickMs / 2) socket.terminate();
      } else if (socket.readyState === socket.OPEN) {
        this.#awaitingPong.set(socket, now);
        socket.ping();
      }
    }
  }
}
