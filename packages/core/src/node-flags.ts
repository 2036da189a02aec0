// The Node flags every service runs with, wherever it runs (Dockerfile, compose, k8s, package.json
// start scripts, the stack, benches; scripts/deploy.test.ts checks they all carry them). V8 reads
// them only at start-up, and NODE_OPTIONS does not take them.
//
// No memory reducer: V8 takes a process whose allocation rate drops (a service at a steady
// 50 requests/s) for idle, and shrinks its heap with a full, compacting collection that stops
// everything for 80–160 ms (traced in `npm run bench:attacks`: several services at once, since they
// started together), long enough to set the p99 of the requests in flight. A server's heap stays
// bounded by its limit; the regular collections still run.
export const SERVICE_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];
