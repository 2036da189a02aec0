// `npm run chaos -- --checkouts 2000 --seed 42 --faults 24 [--concurrency 16] [--kinds a,b] [--poison 6] [--duplicates 40]`
//
// K checkouts through the router (random customers, mixed cards, coupons, cancellations) while a
// seeded schedule of faults runs: SIGKILL and restart of the Kafka broker, a consumer service, a
// relay leader, a request-path subgraph and the router; Postgres sessions terminated and a
// database paused; Redis and Elasticsearch stopped and started. Then every saga to its end, every
// database reconciled, a table of invariants printed; the exit code is 1 if any fails. The same
// seed gives the same schedule and the same customers' choices: a failing run can be run again.
//
// The result is written to .data/chaos/<timestamp>.json and .data/chaos/latest.json (read by the
// RELIABILITY.md generator). Its shape (ChaosResult in scripts/chaos/run.ts):
//
//   {
//     "version": 1,
//     "ok": boolean,                       // every invariant held
//     "seed": number,
//     "options": { "checkouts", "faults", "concurrency", "kinds": string[], "poison", "duplicates" },
//     "startedAt": ISO string, "durationS": number,
//     "invariants": [{ "name": string, "value": number, "expected": "= 0" | "> 0" | "= 100 %", "ok": boolean, "detail"?: string }],
//     "faults": [{ "n", "kind", "target", "atS" (planned), "downS", "startedAtS" (actual),
//                  "readyMs": number | null,      // fault end → the target answers its readiness check
//                  "recoveryMs": number | null,   // fault end → the first order placed after it reaches a final status
//                  "drainedMs": number | null,    // fault end → every order placed before it has reached a final status
//                  "note"?: string, "error"?: string }],
//     "recovery": { "p50Ms", "maxMs", "notRecovered" },
//     "checkouts": { "planned", "placed", "refused", "gaveUp", "canaries", "cancelRequested", "cancelled", "retries" },
//     "unplaced": { "<outcome>: <last error>": count },   // why checkouts placed no order
//     "outcomes": { "<order status>": count },   // from the orders database
//     "cancelledBySagaTimeout": number,
//     "duplicates": { "injected", "absorbed", "byGroup": { "<consumer group>": count } },
//     "poison": { "sent", "deadLetterTopics" },
//     "logs": string                            // the stack's log folder, kept when the run failed
//   }
import { repoDirs } from '@shopgraph/infra';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, type FaultKind } from './chaos/faults.ts';
import { formatResult } from './chaos/report.ts';
import { runChaos } from './chaos/run.ts';

const { values } = parseArgs({
  options: {
    checkouts: { type: 'string', default: '2000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    faults: { type: 'string', default: '24' },
    concurrency: { type: 'string', default: '16' },
    kinds: { type: 'string', default: FAULT_KINDS.join(',') },
    poison: { type: 'string', default: '6' },
    duplicates: { type: 'string', default: '40' },
    spacing: { type: 'string', default: '8' },
  },
});
const kinds = values.kinds.split(',').map((k) => k.trim()) as FaultKind[];
const unknown = kinds.filter((k) => !FAULT_KINDS.includes(k));
if (unknown.length) {
  console.error(`unknown fault kinds: ${unknown.join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
  process.exit(2);
}
const say = (message: string) => console.log(`[chaos] ${message}`);
const checkouts = Number(values.checkouts);

const result = await runChaos({
  checkouts,
  seed: Number(values.seed),
  faults: Number(values.faults),
  kinds,
  concurrency: Number(values.concurrency),
  poison: Number(values.poison),
  duplicates: Number(values.duplicates),
  spacingS: Number(values.spacing),
  dataDir: 'chaos/stack',
  databasePrefix: 'chaos',
  // Twice the saga timeout, plus time for compensations of a large run.
  settleTimeoutMs: 180_000 + checkouts * 20,
  log: say,
}).catch((error: unknown) => {
  console.error(`[chaos] the run could not complete: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});

console.log(`\n${formatResult(result)}`);
const dir = join(repoDirs().data, 'chaos');
mkdirSync(dir, { recursive: true });
const json = `${JSON.stringify(result, null, 2)}\n`;
const file = join(dir, `${result.startedAt.replaceAll(':', '-')}.json`);
writeFileSync(file, json);
writeFileSync(join(dir, 'latest.json'), json);
say(`result: ${file} (and latest.json)`);
if (!result.ok) say(`FAILED; run it again with --seed ${result.seed} --checkouts ${checkouts} --faults ${result.options.faults}; logs in ${result.logs}`);
process.exit(result.ok ? 0 : 1);
