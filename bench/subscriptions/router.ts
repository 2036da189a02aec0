// The router as bench:router runs it (bench/router/gateways/router.ts), plus two IPC commands:
// `gc`, so both setups' memory is read after a full collection (node --expose-gc), not mid-way
// through collecting the connection burst's garbage; `loop`, the longest event-loop stall since
// the last `loop` (a GC pause, say).
import { monitorEventLoopDelay } from 'node:perf_hooks';

const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
process.on('message', (message: { type: string }) => {
  if (message.type === 'gc') {
    globalThis.gc!();
    process.send!({ type: 'gc', heapUsed: process.memoryUsage().heapUsed });
  } else if (message.type === 'loop') {
    process.send!({ type: 'loop', maxMs: Math.round(loopDelay.max / 1e6) });
    loopDelay.reset();
  }
});
await import('../router/gateways/router.ts');
