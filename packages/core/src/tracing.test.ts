import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { createTracing, currentTraceparent, inSpan, linkTo, trace, traceContextOfTraceparent, tracingConfig } from './tracing.ts';

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing', () => {
  it('is off without an exporter: spans are no-ops and nothing is propagated', async () => {
    const tracing = createTracing('svc', tracingConfig.parse({}));
    expect(tracing.enabled).toBe(false);
    await inSpan(tracing.tracer, 'work', {}, async (span) => expect(span.isRecording()).toBe(false));
  });

  it('continues the trace a traceparent names, and starts a new one for a malformed one', async () => {
    // Zipkin on a closed port: spans are queued and dropped, never in the way.
    const tracing = createTracing('svc', tracingConfig.parse({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://127.0.0.1:9/api/v2/spans' }), createMetrics('svc'));
    try {
      await inSpan(tracing.tracer, 'child', { parent: traceContextOfTraceparent(VALID) }, async (span) => {
        expect(span.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
        expect(currentTraceparent()).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      });
      for (const malformed of ['garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', undefined]) {
        await inSpan(tracing.tracer, 'fresh', { parent: traceContextOfTraceparent(malformed) }, async (span) => {
          expect(span.isRecording()).toBe(true);
          expect(span.spanContext().traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
        });
      }
      expect(linkTo(VALID)).toEqual([{ context: expect.objectContaining({ traceId: '0af7651916cd43dd8448eb211c80319c' }) }]);
      expect(linkTo('garbage')).toEqual([]);
    } finally {
      await tracing.shutdown();
    }
  });

  it('logs JSON with the active trace ids on every line, and never a secret', async () => {
    const tracing = createTracing('svc', tracingConfig.parse({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://127.0.0.1:9/api/v2/spans' }));
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('svc', 'info', new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    try {
      logger.info('outside a trace');
      const traceId = await inSpan(tracing.tracer, 'request', {}, async (span) => {
        logger.info({ req: { headers: { authorization: 'Bearer secret-token' } }, input: { email: 'a@b.c', password: 'hunter22' }, token: 'abc' }, 'inside');
        return span.spanContext().traceId;
      });
      expect(lines[0]).not.toHaveProperty('trace_id');
      expect(lines[1]).toMatchObject({ service: 'svc', msg: 'inside', trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(JSON.stringify(lines)).not.toMatch(/secret-token|hunter22|"abc"/);
      expect(trace.getActiveSpan()).toBeUndefined();
    } finally {
      await tracing.shutdown();
    }
  });
});
