// The router as bench:router runs it (bench/router/gateways/router.ts), answering the bench's
// `gc` and `loop` probes (probes.ts).
import { answerProbes } from './probes.ts';

answerProbes();
await import('../router/gateways/router.ts');
