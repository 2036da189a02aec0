// kafkajs' request queue as patched (patches/kafkajs+2.2.4.patch): a timer only while requests wait.
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';

interface Queue {
  throttleCheckTimeoutId: unknown;
  push(request: { entry: Record<string, unknown>; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(ms: number): void;
  destroy(): void;
}
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const queues: Queue[] = [];
const queue = (maxInFlightRequests: number): Queue => {
  const q = new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'localhost:9092', logger: quiet });
  queues.push(q);
  return q;
};
const request = (correlationId: number, sent: number[]) => ({
  entry: { correlationId, apiName: 'Fetch', apiKey: 1, apiVersion: 11, resolve: () => {}, reject: () => {} },
  expectResponse: true,
  sendRequest: () => sent.push(correlationId),
});
const respond = (q: Queue, correlationId: number) => q.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });

afterEach(() => {
  for (const q of queues.splice(0)) q.destroy();
});

describe("kafkajs' request queue", () => {
  it('holds no timer once nothing waits (upstream re-armed a 1 ms one after every check, forever)', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const q = queue(1);
      const sent: number[] = [];
      q.push(request(1, sent));
      respond(q, 1);
      await sleep(20);
      expect(sent).toEqual([1]);
      expect(q.throttleCheckTimeoutId).toBeNull();
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('TimeoutNegativeWarning');
  });

  it('sends a request held by a client-side throttle when the throttle ends, then idles', async () => {
    const q = queue(10);
    const sent: number[] = [];
    q.maybeThrottle(50);
    q.push(request(1, sent));
    expect(sent).toEqual([]);
    await sleep(120);
    expect(sent).toEqual([1]);
    respond(q, 1);
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it('sends a request held by the in-flight limit once a response frees a slot', () => {
    const q = queue(1);
    const sent: number[] = [];
    q.push(request(1, sent));
    q.push(request(2, sent));
    expect(sent).toEqual([1]);
    respond(q, 1);
    expect(sent).toEqual([1, 2]);
  });
});
