// The printed form of a chaos run's result: what happened, each fault's recovery, the invariants.
import type { ChaosResult } from './run.ts';

/** The whole report, for a terminal. */
export function formatResult(result: ChaosResult): string {
  const rows = result.invariants.map((i) => `  ${i.ok ? 'ok  ' : 'FAIL'}  ${i.name.padEnd(58)} ${String(i.value).padStart(7)}  (${i.expected})${i.detail && !i.ok ? `  ${i.detail}` : ''}`);
  const faults = result.faults.map(
    (f) =>
      `  #${String(f.n).padStart(2)} ${String(f.startedAtS).padStart(6)} s  ${f.kind.padEnd(18)} ${f.target.padEnd(13)} down ${f.downS} s  ready ${String(f.readyMs ?? '—').padStart(6)} ms  next saga ${String(f.recoveryMs ?? 'never').padStart(6)} ms  caught sagas done ${String(f.drainedMs ?? 'never').padStart(6)} ms${f.error ? `  ERROR ${f.error}` : ''}`,
  );
  const c = result.checkouts;
  return [
    `Chaos run, seed ${result.seed}: ${result.options.checkouts} checkouts, ${result.faults.length} faults, ${result.durationS} s`,
    `  checkouts: ${c.placed} placed, ${c.refused} refused, ${c.gaveUp} gave up, ${c.canaries} canaries; ${c.cancelRequested} cancellations asked (${c.cancelled} done); ${c.retries} retries`,
    ...(Object.keys(result.unplaced).length ? [`  no order: ${Object.entries(result.unplaced).slice(0, 5).map(([why, n]) => `${n}× ${why}`).join('; ')}`] : []),
    `  orders: ${Object.entries(result.outcomes).map(([s, n]) => `${s} ${n}`).join(', ')}; cancelled by the saga timeout: ${result.cancelledBySagaTimeout}`,
    `  duplicates: ${result.duplicates.injected} injected, ${result.duplicates.absorbed} absorbed; poison: ${result.poison.sent} sent`,
    '',
    'Faults (from the fault end: target ready; first order placed after it final; every order placed before it final):',
    ...faults,
    `  recovery p50 ${result.recovery.p50Ms ?? '—'} ms, max ${result.recovery.maxMs ?? '—'} ms`,
    '',
    'Invariants:',
    ...rows,
    '',
    result.ok ? 'PASSED' : 'FAILED',
  ].join('\n');
}
