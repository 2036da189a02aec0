// The router as bench:router runs it (bench/router/gateways/router.ts), plus two IPC commands:
// `gc`, so both setups' memory is read after a full collection (node --expose-gc), not mid-way
// through collecting the connection burst's garbage. It is V8's memory-reducing one ('last-resort'):
// it also shrinks the young generation and gives free pages back, whose size follows the recent
// allocation rate, not the subscriptions held (up to ~100 MB, landing in whichever half of the
// subscriptions it grew in). `loop`, the longest event-loop stall since
// the last `loop` (a GC pause, say).
import { monitorEventLoopDelay } from 'node:perf_hooks';

const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
process.on('message', (message: { type: string }) => {
  if (message.type === 'gc') {
    globalThis.gc!({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    process.send!({ type: 'gc', heapUsed: process.memoryUsage().heapUsed });
  } else if (message.type === 'loop') {
    process.send!({ type: 'loop', maxMs: Math.round(loopDelay.max / 1e6) });
    loopDelay.reset();
  }
});
await import('../router/gateways/router.ts');
