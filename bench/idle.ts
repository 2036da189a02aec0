// What the whole stack costs doing nothing: every process's CPU while no request and no event
// flows, as % of one core, in windows after it has settled. Idle work (relays' polls, consumers'
// fetches and heartbeats, JVM housekeeping) is paid on every replica of every deployment and, on
// a shared box, is taken from every request's CPU.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sleep } from '@shopgraph/core/lifecycle';
import { startStack, type Stack } from '../scripts/stack.ts';
import { machineInfo } from './lib/machine.ts';
import { positive, startBenchRun } from './lib/run.ts';
import { median } from './lib/stats.ts';
import { cpuBetween, loadAverage, sampleCpu } from './saga/cpu.ts';

const { values: args } = parseArgs({ options: { settle: { type: 'string', default: '20' }, seconds: { type: 'string', default: '10' }, windows: { type: 'string', default: '3' } } });
const settleS = positive('settle', args.settle);
const seconds = positive('seconds', args.seconds);
const windows = Math.round(positive('windows', args.windows));

const DB_PREFIX = 'benchidle';
const { log, signal } = startBenchRun(15);
const machine = machineInfo();
log(`${machine.cpuModel}, ${machine.nproc} CPUs, Node ${machine.node}; load average ${loadAverage()}`);

const run = `${DB_PREFIX}${randomBytes(3).toString('hex')}`;
let stack: Stack | undefined;
try {
  stack = await startStack({
    ports: 'free',
    databasePrefix: DB_PREFIX,
    fresh: true,
    dataDir: 'bench-idle',
    env: { KAFKA_TOPIC_PREFIX: `${run}.`, ELASTICSEARCH_INDEX_PREFIX: `${run}-`, REDIS_KEY_PREFIX: `${run}:`, LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    log: (message) => log(`  stack: ${message}`),
  });
  log(`stack up; settling ${settleS} s`);
  await sleep(settleS * 1000, signal);
  const perWindow: Record<string, number>[] = [];
  const others: number[] = [];
  for (let i = 0; i < windows && !signal.aborted; i++) {
    const before = sampleCpu(`${DB_PREFIX}_`);
    await sleep(seconds * 1000, signal);
    const usage = cpuBetween(before, sampleCpu(`${DB_PREFIX}_`));
    perWindow.push(usage.byLabel);
    others.push(usage.otherPct);
  }
  // The median window per process: one window with a JVM's GC or a periodic cleanup does not decide it.
  const labels = [...new Set(perWindow.flatMap((w) => Object.keys(w)))].filter((label) => !label.startsWith('bench'));
  const rows = labels.map((label) => ({ label, pct: median(perWindow.map((w) => w[label] ?? 0)) })).sort((a, b) => b.pct - a.pct);
  const total = rows.reduce((sum, row) => sum + row.pct, 0);
  console.log(`\nidle stack, % of one core (median of ${windows} windows of ${seconds} s, after ${settleS} s settling; other users of the machine: ${others.map((o) => o.toFixed(1)).join(' / ')} %)\n`);
  for (const { label, pct } of rows) console.log(`  ${label.padEnd(36)} ${pct.toFixed(1).padStart(6)} %`);
  console.log(`  ${'total'.padEnd(36)} ${total.toFixed(1).padStart(6)} %`);
} finally {
  if (stack) {
    await stack.stop().catch((error: unknown) => log(`stopping the stack failed: ${String(error)}`));
    await stack.dropDatabases();
  }
}
setTimeout(() => process.exit(), 1_000).unref();
