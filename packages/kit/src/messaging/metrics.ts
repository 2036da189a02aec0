import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '@shopgraph/core/metrics';
import type { Orm } from '../db.ts';
import type { BroadcastOutcome } from './broadcast.ts';
import type { BatchOutcome, MessageOutcome } from './consumer.ts';

/** Event ages: a pipeline's normal delay is tens to hundreds of ms; an outage's backlog, minutes. */
const AGE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300];

/** The outbox's unpublished rows, counted at scrape time (the partial index keeps it cheap). */
const BACKLOG = `select count(*)::int as backlog,
  coalesce(extract(epoch from now() - (select created_at from outbox_message where published_at is null order by seq limit 1)), 0)::float8 as oldest
  from outbox_message where published_at is null`;

/**
 * The messaging plumbing's metrics: what consumers did with each message (dead letters included),
 * how long batches took, how far behind each group is (in messages, and in time when handled),
 * what the relay published and how long after the commit, the outbox's backlog and its oldest row's
 * age, and the requests the process sent to Kafka.
 */
export function messagingMetrics(registry: Registry, orm: Orm) {
  const registers = [registry];
  const messages = new Counter({ name: 'shopgraph_consumer_messages_total', help: 'Messages consumers took, by outcome (processed, duplicate, ignored, dead-lettered; delivered, failed for broadcast consumers)', labelNames: ['group', 'topic', 'result'], registers });
  const retries = new Counter({ name: 'shopgraph_consumer_retries_total', help: 'Handler attempts beyond the first (transient failures retried)', labelNames: ['group', 'topic'], registers });
  const batches = new Histogram({ name: 'shopgraph_consumer_batch_seconds', help: 'Time to handle one fetched batch of a partition, in one transaction', labelNames: ['group', 'topic'], buckets: LATENCY_BUCKETS, registers });
  // The figure a read model's freshness is judged by (search: a change searchable within 1 s).
  const eventAge = new Histogram({ name: 'shopgraph_consumer_event_age_seconds', help: "From an event's recording (≈ its owner's commit) to its handling committed by a consumer group", labelNames: ['group', 'topic'], buckets: AGE_BUCKETS, registers });
  const lagByPartition = new Map<string, { group: string; topic: string; lag: number }>();
  new Gauge({
    name: 'shopgraph_consumer_lag_messages',
    help: 'Messages published but not yet handled by a consumer group, summed over the partitions this process owns',
    labelNames: ['group', 'topic'],
    registers,
    collect() {
      this.reset();
      for (const { group, topic, lag } of lagByPartition.values()) this.inc({ group, topic }, lag);
    },
  });
  const kafkaRequests = new Counter({ name: 'shopgraph_kafka_requests_total', help: "Requests this process's Kafka clients sent to brokers, by API (Fetch, Produce, Heartbeat, OffsetCommit…): what a message costs the broker", labelNames: ['api'], registers });
  const published = new Counter({ name: 'shopgraph_outbox_published_total', help: 'Events the relay published to Kafka', registers });
  const publishLatency = new Histogram({ name: 'shopgraph_outbox_publish_latency_seconds', help: 'From an event recorded (≈ its transaction committed) to Kafka acknowledging it', buckets: LATENCY_BUCKETS, registers });
  // Both gauges come from one query per scrape.
  let snapshot: Promise<{ backlog: number; oldest: number }> | undefined;
  const outbox = () =>
    (snapshot ??= orm.em
      .getConnection()
      .execute<{ backlog: number; oldest: number }[]>(BACKLOG)
      .then(([row]) => row ?? { backlog: 0, oldest: 0 })
      .finally(() => setImmediate(() => (snapshot = undefined))));
  new Gauge({
    name: 'shopgraph_outbox_backlog_messages',
    help: 'Outbox rows not yet marked published (the last batch of a quiet spell is marked at the next poll, within a second)',
    registers,
    async collect() {
      this.set((await outbox()).backlog);
    },
  });
  new Gauge({
    name: 'shopgraph_outbox_oldest_unpublished_age_seconds',
    help: 'Age of the oldest outbox row not yet published (0 when none)',
    registers,
    async collect() {
      this.set((await outbox()).oldest);
    },
  });

  return {
    onMessage(outcome: MessageOutcome | BroadcastOutcome): void {
      messages.inc({ group: outcome.group, topic: outcome.topic, result: outcome.result });
      if (outcome.ageSeconds !== undefined) eventAge.observe({ group: outcome.group, topic: outcome.topic }, outcome.ageSeconds);
      if (outcome.attempts > 1) retries.inc({ group: outcome.group, topic: outcome.topic }, outcome.attempts - 1);
    },
    onBatch(batch: BatchOutcome): void {
      batches.observe({ group: batch.group, topic: batch.topic }, batch.seconds);
      lagByPartition.set(`${batch.group}\0${batch.topic}\0${batch.partition}`, { group: batch.group, topic: batch.topic, lag: batch.lag });
    },
    onKafkaRequest(apiName: string): void {
      kafkaRequests.inc({ api: apiName });
    },
    onPublished(batch: { count: number; latencyMs: number[] }): void {
      published.inc(batch.count);
      for (const ms of batch.latencyMs) publishLatency.observe(ms / 1000);
    },
  };
}
