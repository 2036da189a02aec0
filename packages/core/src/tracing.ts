import { context, createNoopMeter, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type MeterProvider, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { z } from 'zod';
import { Counter, type Registry } from './metrics.ts';

export { SpanKind, SpanStatusCode, trace, type Span, type Tracer };

/**
 * Where traces go, in OpenTelemetry's own variable names. The exporter is OTLP (HTTP) once an
 * endpoint is set, Zipkin when asked; with neither, tracing is off and every span is a no-op.
 */
// Empty is unset, as compose passes `${VAR:-}`.
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

export const tracingConfig = z.object({
  OTEL_TRACES_EXPORTER: optional(z.enum(['otlp', 'zipkin', 'none'])),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optional(z.url()),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(z.url()),
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().default('http://127.0.0.1:9411/api/v2/spans'),
  /** The share of new traces sampled (0–1); a request that arrives traced follows its caller's decision. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
});
export type TracingConfig = z.infer<typeof tracingConfig>;

export interface Tracing {
  tracer: Tracer;
  enabled: boolean;
  /** Sends what is queued, then stops (on shutdown). */
  shutdown(): Promise<void>;
}

// Each service's tracer by name, for adapters deep in a service (a payment provider) to add their spans.
const tracers = new Map<string, Tracer>();

/** The tracer of a service started in this process with tracing on; else a no-op one. */
export function serviceTracer(service: string): Tracer {
  return tracers.get(service) ?? trace.getTracer(service);
}

let installed = false;
/** The process's context manager and propagator, once: they carry the active span across awaits and hops. */
function installContext(): void {
  if (installed) return;
  installed = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/**
 * A tracer of one service's own (its resource names it), not a process-global provider, so the
 * services of one process (tests) keep their names. Spans are exported in batches off the
 * request path from a bounded queue: an unreachable collector costs dropped spans, counted in
 * `shopgraph_tracing_spans_total{result="dropped"}`, never a slow request.
 */
export function createTracing(service: string, config: TracingConfig, metrics?: Registry): Tracing {
  const otlp = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (config.OTEL_EXPORTER_OTLP_ENDPOINT && `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`);
  const kind = config.OTEL_TRACES_EXPORTER ?? (otlp ? 'otlp' : 'none');
  if (kind === 'none') return { tracer: trace.getTracer(service), enabled: false, shutdown: async () => {} };
  installContext();
  const exporter: SpanExporter = kind === 'zipkin' ? new ZipkinExporter({ url: config.OTEL_EXPORTER_ZIPKIN_ENDPOINT, serviceName: service }) : new OTLPTraceExporter({ url: otlp ?? 'http://127.0.0.1:4318/v1/traces', timeoutMillis: 5_000 });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG) }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter, maxQueueSize: 4096, maxExportBatchSize: 512, scheduledDelayMillis: 1_000, exportTimeoutMillis: 5_000, ...(metrics ? { selfObsMeterProvider: spanCounts(metrics) } : {}) }),
    ],
  });
  const tracer = provider.getTracer(service);
  tracers.set(service, tracer);
  return {
    tracer,
    enabled: true,
    // What the collector does not take by then is lost, never a failed shutdown.
    shutdown: () => {
      if (tracers.get(service) === tracer) tracers.delete(service);
      return provider.shutdown().catch(() => {});
    },
  };
}

/** The span processor's own counts (exported, dropped when its queue is full, failed) as a Prometheus counter. */
function spanCounts(registry: Registry): MeterProvider {
  const spans = new Counter({ name: 'shopgraph_tracing_spans_total', help: 'Finished spans by what became of them: exported, dropped (the export queue was full) or failed (the collector refused or was unreachable)', labelNames: ['result'], registers: [registry] });
  const noop = createNoopMeter();
  const meter = Object.create(noop) as typeof noop;
  meter.createCounter = ((name: string, options?: object) => {
    if (name !== 'otel.sdk.processor.span.processed') return noop.createCounter(name, options);
    return {
      add(value: number, attributes?: Attributes) {
        const error = attributes?.['error.type'];
        spans.inc({ result: error === undefined ? 'exported' : error === 'queue_full' ? 'dropped' : 'failed' }, value);
      },
    };
  }) as typeof noop.createCounter;
  return { getMeter: () => meter };
}

/** Runs `work` in a new active span, ended when it settles; a throw marks it as an error. */
export async function inSpan<T>(tracer: Tracer, name: string, options: SpanOptions & { parent?: Context }, work: (span: Span) => Promise<T>): Promise<T> {
  const { parent, ...spanOptions } = options;
  return tracer.startActiveSpan(name, spanOptions, parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with the error's type and message (never its stack or request data). */
export function failSpan(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.setAttribute('error.type', error instanceof Error ? error.name : typeof error);
}

/** The caller's trace from W3C `traceparent`/`tracestate` headers; a missing or malformed one starts a new trace. */
export function traceContextOf(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, headers, {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => {
      const value = carrier[key];
      return Array.isArray(value) ? value[0] : value;
    },
  });
}

/** The active span as a `traceparent` value (for an event envelope or a fetch), if one is being traced. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier['traceparent'];
}

/** The active span's ids, for log lines. */
export function activeSpanIds(): { trace_id: string; span_id: string } | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : undefined;
}

/** The trace a `traceparent` value names (a malformed or missing one: a new trace). */
export function traceContextOfTraceparent(traceparent: string | null | undefined): Context {
  return traceparent ? traceContextOf({ traceparent }) : ROOT_CONTEXT;
}

/** A link to the span a `traceparent` names, for work done on behalf of many traces at once (a batch). */
export function linkTo(traceparent: string | null | undefined): Link[] {
  const spanContext = traceparent ? trace.getSpanContext(traceContextOfTraceparent(traceparent)) : undefined;
  return spanContext && trace.isSpanContextValid(spanContext) ? [{ context: spanContext }] : [];
}

/** Runs `work` in the trace the request's headers name (so spans started inside are its children). */
export function inTraceOf<T>(headers: Record<string, string | string[] | undefined>, work: () => T): T {
  return context.with(traceContextOf(headers), work);
}

/** Adds the active trace's `traceparent` (and `tracestate`) to outgoing headers. */
export function injectTraceHeaders(headers: Record<string, string>): void {
  propagation.inject(context.active(), headers);
}
