// The IPC commands bench/subscriptions.ts sends every server it measures:
//   { type: 'gc' }    a full collection, then { type: 'gc', heapUsed }. V8's memory-reducing one
//                     ('last-resort', node --expose-gc): it also shrinks the young generation and gives
//                     free pages back. The young generation's size follows the recent allocation rate,
//                     not the subscriptions held (up to ~100 MB), and would otherwise be counted in
//                     whichever half of the subscriptions it grew in.
//   { type: 'loop' }  the longest event-loop stall since the last `loop` (a GC pause, say), then
//                     { type: 'loop', maxMs }
import { monitorEventLoopDelay } from 'node:perf_hooks';

export function answerProbes(): void {
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
}
