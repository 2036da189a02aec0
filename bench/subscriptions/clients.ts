// The bench's clients: one process holding every subscriber, each on a connection of its own (its
// own token), as many phones and browsers would: a WebSocket (graphql-ws), or one HTTP request
// streaming the events (Apollo's multipart protocol, or graphql-sse's distinct connections). Driven
// over IPC by bench/subscriptions.ts:
//   { type: 'connect', url, query, transport, subscribers: [{ token, orderId }] }  → { type: 'connected', ms, refused }
//   { type: 'window' }   starts a measurement window → { type: 'windowed' }
//   { type: 'report' }   ends it → { type: 'report', received, latencies (ms, event `at` → parsed here), errors, closed,
//                          clientLoopDelayMaxMs (the longest this process's event loop stalled) }
//   { type: 'close' }    closes every socket → { type: 'closed' }
import { request, type ClientRequest } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';

export type Transport = 'ws' | 'multipart' | 'sse';

interface Subscriber {
  token: string;
  orderId: string;
}

const sockets = new Set<WebSocket>();
const streams = new Set<ClientRequest>();
// Preallocated, so recording a sample allocates nothing that lives (no old-space growth, fewer major GCs here).
const latencies = new Float64Array(1 << 22);
let received = 0;
let errors = 0;
let closed = 0;
// A stalled client loop (its own GC, say) shows as latency: reported so a reader can tell.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

function open(url: string, query: string, { token, orderId }: Subscriber): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
    let acknowledged = false;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; payload?: { data?: { orderStatusChanged?: { at: string } }; errors?: unknown } };
      if (message.type === 'next') {
        record(message.payload);
      } else if (message.type === 'connection_ack') {
        acknowledged = true;
        sockets.add(socket);
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { orderId } } }));
        resolve(true);
      } else if (message.type === 'error') errors++;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (sockets.delete(socket)) closed++;
      if (!acknowledged) resolve(false);
    });
  });
}

/** One event's `at` (or an error) from a result. */
function record(result: { data?: { orderStatusChanged?: { at: string } }; errors?: unknown } | undefined): void {
  const at = result?.data?.orderStatusChanged?.at;
  if (!at || result?.errors) errors++;
  else {
    if (received < latencies.length) latencies[received] = Date.now() - Date.parse(at);
    received++;
  }
}

/** A subscription over one streaming HTTP request: Apollo's multipart protocol, or SSE. */
function openStream(url: string, query: string, { token, orderId }: Subscriber, transport: 'multipart' | 'sse'): Promise<boolean> {
  return new Promise((resolve) => {
    const accept = transport === 'multipart' ? 'multipart/mixed;subscriptionSpec=1.0' : 'text/event-stream';
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return resolve(false);
      }
      streams.add(req);
      resolve(true);
      res.setEncoding('utf8');
      let buffer = '';
      // Multipart: parts between "\r\n--graphql"; each `{ payload }` (or `{}`, a heartbeat). SSE: "event: next\ndata: …\n\n".
      const separator = transport === 'multipart' ? '\r\n--graphql' : '\n\n';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let at = buffer.indexOf(separator); at >= 0; at = buffer.indexOf(separator)) {
          const message = buffer.slice(0, at);
          buffer = buffer.slice(at + separator.length);
          if (transport === 'multipart') {
            const body = message.slice(message.indexOf('\r\n\r\n') + 4);
            if (body.startsWith('{"payload"')) record((JSON.parse(body) as { payload: Parameters<typeof record>[0] }).payload);
          } else if (message.startsWith('event: next')) {
            record(JSON.parse(message.slice(message.indexOf('data: ') + 6)) as Parameters<typeof record>[0]);
          }
        }
      });
      res.on('close', () => {
        if (streams.delete(req)) closed++;
      });
    });
    req.on('error', () => {
      if (!streams.delete(req)) resolve(false);
    });
    req.end(JSON.stringify({ query, variables: { orderId } }));
  });
}

async function connect(url: string, query: string, subscribers: Subscriber[], transport: Transport): Promise<{ ms: number; refused: number }> {
  const start = performance.now();
  let refused = 0;
  let index = 0;
  // A few hundred handshakes in flight at once, as a crowd of clients arriving would be.
  await Promise.all(Array.from({ length: 200 }, async () => {
    while (index < subscribers.length) {
      const subscriber = subscribers[index++]!;
      if (!(await (transport === 'ws' ? open(url, query, subscriber) : openStream(url, query, subscriber, transport)))) refused++;
    }
  }));
  return { ms: performance.now() - start, refused };
}

async function closeAll(): Promise<void> {
  for (const stream of streams) stream.destroy();
  streams.clear();
  await Promise.all([...sockets].map((socket) => new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.close(1000);
  })));
}

process.on('message', (message: { type: string; url?: string; query?: string; transport?: Transport; subscribers?: Subscriber[] }) => {
  const reply = (value: object) => process.send!(value);
  switch (message.type) {
    case 'connect':
      void connect(message.url!, message.query!, message.subscribers!, message.transport ?? 'ws').then((result) => reply({ type: 'connected', ...result }));
      break;
    case 'window':
      received = 0;
      errors = 0;
      closed = 0;
      loopDelay.reset();
      reply({ type: 'windowed' });
      break;
    case 'report':
      reply({ type: 'report', received, latencies: Array.from(latencies.subarray(0, Math.min(received, latencies.length))), errors, closed, clientLoopDelayMaxMs: Math.round(loopDelay.max / 1e6) });
      break;
    case 'close':
      void closeAll().then(() => reply({ type: 'closed' }));
      break;
  }
});
process.send!({ type: 'ready' });
