import { badInput, BadInputReason } from './bad-input.ts';
import type { RegisteredOperation } from './registry.service.ts';

/** A router's report for one window (the registry ⇄ router contract). */
export interface UsageReport {
  windowStart: string;
  windowEnd: string;
  operations: {
    clientName: string;
    clientVersion: string;
    operationName?: string | null;
    documentId: string;
    count: number;
    errors: number;
    fields: string[];
  }[];
}

export interface UsageRow {
  variant: string;
  coordinate: string;
  clientName: string;
  clientVersion: string;
  /** UTC day of the window's start, `YYYY-MM-DD`. */
  day: string;
  requests: number;
  errors: number;
}

const COORDINATE = /^[_A-Za-z][_0-9A-Za-z]*\.[_A-Za-z][_0-9A-Za-z]*$/;
const MAX_WINDOW_MS = 24 * 60 * 60 * 1000;

/** A report as rows to add, one per coordinate, client version and day; refuses what does not fit the contract. */
export function usageRows(variant: string, report: UsageReport): UsageRow[] {
  const start = Date.parse(report.windowStart);
  const end = Date.parse(report.windowEnd);
  if (Number.isNaN(start) || Number.isNaN(end) || end < start || end - start > MAX_WINDOW_MS) {
    throw badInput(BadInputReason.INVALID_USAGE_REPORT, 'windowStart and windowEnd must be ISO date-times, in order, at most a day apart.');
  }
  const day = new Date(start).toISOString().slice(0, 10);
  const rows = new Map<string, UsageRow>();
  for (const [index, operation] of report.operations.entries()) {
    const { clientName, clientVersion, count, errors, fields } = operation;
    if (!Number.isInteger(count) || count < 0 || !Number.isInteger(errors) || errors < 0 || errors > count) {
      throw badInput(BadInputReason.INVALID_USAGE_REPORT, `operations[${index}]: count and errors must be whole numbers, 0 ≤ errors ≤ count.`);
    }
    if (!clientName || !clientVersion || clientName.length > 100 || clientVersion.length > 100) {
      throw badInput(BadInputReason.INVALID_USAGE_REPORT, `operations[${index}]: clientName and clientVersion must be 1 to 100 characters ("unknown" when not sent).`);
    }
    const invalid = fields.find((field) => !COORDINATE.test(field));
    if (invalid !== undefined) throw badInput(BadInputReason.INVALID_USAGE_REPORT, `operations[${index}]: "${invalid}" is not a Type.field coordinate.`);
    for (const coordinate of new Set(fields)) {
      const key = `${coordinate}\n${clientName}\n${clientVersion}`;
      const row = rows.get(key) ?? { variant, coordinate, clientName, clientVersion, day, requests: 0, errors: 0 };
      row.requests += count;
      row.errors += errors;
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}

export interface CoordinateUsage {
  requests: number;
  clients: { name: string; version: string; requests: number }[];
  /** Registered operations that select the coordinates. */
  operations: RegisteredOperation[];
  /** "used by web 1.4 and mobile 2.3, 12,340 requests in the last 7 days" */
  summary: string;
}

const number = new Intl.NumberFormat('en-US');

/** Who used the given coordinates: traffic per client version, and the registered operations selecting them. */
export function describeUsage(
  coordinates: readonly string[],
  traffic: readonly { coordinate: string; client_name: string; client_version: string; requests: string | number }[],
  operations: readonly RegisteredOperation[],
  days: number,
): CoordinateUsage {
  const wanted = new Set(coordinates);
  const byClient = new Map<string, { name: string; version: string; requests: number }>();
  for (const row of traffic) {
    if (!wanted.has(row.coordinate)) continue;
    const key = `${row.client_name}\n${row.client_version}`;
    const client = byClient.get(key) ?? { name: row.client_name, version: row.client_version, requests: 0 };
    client.requests += Number(row.requests);
    byClient.set(key, client);
  }
  const clients = [...byClient.values()].sort((a, b) => b.requests - a.requests || a.name.localeCompare(b.name));
  const requests = clients.reduce((sum, c) => sum + c.requests, 0);
  const unique = [...new Map(operations.map((o) => [`${o.client}\n${o.version}\n${o.documentId}`, o])).values()];
  const users = [...new Set([...clients.map((c) => `${c.name} ${c.version}`), ...unique.map((o) => `${o.client} ${o.version}`)])];
  const window = `in the last ${days} day${days === 1 ? '' : 's'}`;
  const summary = users.length
    ? `used by ${users.length > 2 ? `${users.slice(0, -1).join(', ')} and ${users.at(-1)}` : users.join(' and ')}, ${number.format(requests)} request${requests === 1 ? '' : 's'} ${window}`
    : `no registered operation selects it and no requests ${window}`;
  return { requests, clients, operations: unique, summary };
}
