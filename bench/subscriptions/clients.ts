// The bench's clients: one process holding every subscriber, each on a WebSocket of its own
// (graphql-ws protocol, its own token), as many phones and browsers would. Driven over IPC by
// bench/subscriptions.ts:
//   { type: 'connect', url, query, subscribers: [{ token, orderId }] }  → { type: 'connected', ms, refused }
//   { type: 'window' }   starts a measurement window → { type: 'windowed' }
//   { type: 'report' }   ends it → { type: 'report', received, latencies (ms, event `at` → parsed here), errors, closed,
//                          clientLoopDelayMaxMs (the longest this process's event loop stalled) }
//   { type: 'close' }    closes every socket → { type: 'closed' }
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';

interface Subscriber {
  token: string;
  orderId: string;
}

const sockets = new Set<WebSocket>();
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
        const at = message.payload?.data?.orderStatusChanged?.at;
        if (!at || message.payload?.errors) errors++;
        else {
          if (received < latencies.length) latencies[received] = Date.now() - Date.parse(at);
          received++;
        }
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

async function connect(url: string, query: string, subscribers: Subscriber[]): Promise<{ ms: number; refused: number }> {
  const start = performance.now();
  let refused = 0;
  let index = 0;
  // A few hundred handshakes in flight at once, as a crowd of clients arriving would be.
  await Promise.all(Array.from({ length: 200 }, async () => {
    while (index < subscribers.length) if (!(await open(url, query, subscribers[index++]!))) refused++;
  }));
  return { ms: performance.now() - start, refused };
}

async function closeAll(): Promise<void> {
  await Promise.all([...sockets].map((socket) => new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.close(1000);
  })));
}

process.on('message', (message: { type: string; url?: string; query?: string; subscribers?: Subscriber[] }) => {
  const reply = (value: object) => process.send!(value);
  switch (message.type) {
    case 'connect':
      void connect(message.url!, message.query!, message.subscribers!).then((result) => reply({ type: 'connected', ...result }));
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
