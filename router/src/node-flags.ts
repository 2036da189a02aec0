// The Node flags the router runs with, wherever it runs: every service's (the core's
// SERVICE_NODE_FLAGS) and one of its own. scripts/deploy.test.ts checks the manifests carry them.
//
// A young generation of at least 16 MB per semi-space: V8 otherwise starts it at 1 MB, shrinks it
// back there in a memory-reducing GC, and regrows it only when much survives. At 20,000 deliveries/s a 1 MB young generation
// is collected every ~16 ms, so objects that live a few ms (a write in flight) are promoted, the old
// generation grows, and its full collection takes the router's one core for ~0.3 s: a backlog that
// sets the p99 (BENCHMARKS.md, "Subscriptions"). Costs 32 MB once, not per subscription.
import { SERVICE_NODE_FLAGS } from '@shopgraph/core/node-flags';

export const ROUTER_NODE_FLAGS: readonly string[] = [...SERVICE_NODE_FLAGS, '--min-semi-space-size=16'];
