export type Log = (msg: string) => void;

export const noop: Log = () => {};

/** A readable one-line reason, including every cause of an AggregateError (e.g. IPv4 + IPv6). */
export function errorText(err: unknown): string {
  if (err === undefined) return 'no error detail (the process exited)';
  if (err instanceof AggregateError && err.errors.length) return err.errors.map(errorText).join('; ');
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
