/**
 * Polls `check` every 25 ms until it returns something other than undefined/false, and resolves
 * with that; rejects after `timeoutMs` naming `what` (and the last error `check` threw, if any).
 */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether `promise` is still pending after `ms`: shows that something waits (on a lock, say). Rejects with its error. */
export async function stillPendingAfter(promise: Promise<unknown>, ms = 300): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = await Promise.race([promise.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))]);
  clearTimeout(timer);
  return pending;
}
