// Human-readable output of the CLI (`--json` prints the registry's answer instead).

export interface Check {
  passed: boolean;
  variant: string;
  baseVersion: number | null;
  composition: { errors: { code: string | null; message: string }[]; hints: { code: string | null; message: string }[] };
  changes: { kind: string; severity: string; safeByUsage: boolean; coordinate: string; message: string; usage: { summary: string } | null }[];
  operations: { client: string; version: string; name: string | null; errors: string[] }[];
  operationsChecked: number;
  lint: { rule: string; severity: string; subgraph: string; coordinate: string; message: string }[];
  eventContracts: { type: string; severity: string; message: string }[];
}

export interface Version {
  variant: string;
  version: number;
  publishedBy: string;
  author: string | null;
  publishedAt: string;
  subgraphs: { name: string; action: string; routingUrl: string | null }[];
  changes: { severity: string; coordinate: string; message: string }[];
  eventContracts: string[];
}

const mark = (severity: string, safeByUsage = false) => (safeByUsage ? '✓' : severity === 'BREAKING' || severity === 'ERROR' ? '✗' : severity === 'DANGEROUS' || severity === 'WARNING' ? '!' : '·');

export function formatCheck(check: Check): string {
  const lines = [`Schema check of ${check.variant} against ${check.baseVersion ? `version ${check.baseVersion}` : 'nothing published yet'}: ${check.passed ? 'PASSED' : 'FAILED'}`, ''];
  const { errors, hints } = check.composition;
  lines.push(errors.length ? `Composition: ${errors.length} error(s)` : `Composition: ok${hints.length ? ` (${hints.length} hint(s))` : ''}`);
  for (const error of errors) lines.push(`  ✗ ${error.code ? `[${error.code}] ` : ''}${error.message}`);
  lines.push('', check.changes.length ? `API changes: ${check.changes.length}` : 'API changes: none');
  for (const change of check.changes) {
    const severity = change.safeByUsage ? 'BREAKING, safe by usage' : change.severity;
    lines.push(`  ${mark(change.severity, change.safeByUsage)} ${severity.padEnd(9)} ${change.coordinate}`, `      ${change.message}`);
    if (change.usage) lines.push(`      ${change.usage.summary}`);
  }
  lines.push('', `Client operations: ${check.operationsChecked} checked, ${check.operations.length} broken`);
  for (const operation of check.operations) lines.push(`  ✗ ${operation.client} ${operation.version} ${operation.name ?? '(anonymous)'}: ${operation.errors.join(' ')}`);
  if (check.lint.length) lines.push('', `Lint: ${check.lint.length} finding(s)`);
  for (const finding of check.lint) lines.push(`  ${mark(finding.severity)} ${finding.severity.padEnd(7)} ${finding.subgraph} ${finding.coordinate} (${finding.rule}): ${finding.message}`);
  if (check.eventContracts.length) lines.push('', `Event contracts: ${check.eventContracts.length} change(s)`);
  for (const change of check.eventContracts) lines.push(`  ${mark(change.severity)} ${change.severity.padEnd(9)} ${change.message}`);
  return lines.join('\n');
}

export function formatVersion(version: Version): string {
  const subgraphs = version.subgraphs.map((s) => `${s.action === 'DELETED' ? '-' : '+'}${s.name}`).join(' ');
  const lines = [`v${version.version}  ${version.publishedAt}  ${version.publishedBy}${version.author ? ` (${version.author})` : ''}  ${subgraphs}${version.eventContracts.length ? `  events: ${version.eventContracts.join(', ')}` : ''}`];
  for (const change of version.changes) lines.push(`    ${mark(change.severity)} ${change.severity.padEnd(9)} ${change.coordinate}: ${change.message}`);
  return lines.join('\n');
}
