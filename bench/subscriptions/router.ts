// The router as bench:router runs it (bench/router/gateways/router.ts), plus one IPC command, `gc`,
// so both setups' memory is read after a full collection (node --expose-gc), not mid-way through
// collecting the connection burst's garbage.
process.on('message', (message: { type: string }) => {
  if (message.type !== 'gc') return;
  globalThis.gc!();
  process.send!({ type: 'gc', heapUsed: process.memoryUsage().heapUsed });
});
await import('../router/gateways/router.ts');
