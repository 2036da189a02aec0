import { assertOrigin, InvalidEvent, parseEvent, type EventData, type EventType, type Envelope } from '@shopgraph/events';
import type { EachMessagePayload } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@shopgraph/core/log';
import { inSpan, SpanKind, traceContextOfTraceparent, type Tracer } from '@shopgraph/core/tracing';
import type { MessageOutcome } from './consumer.ts';
import { errorMessage, internalsOf, restartAfterCrashes, topicsHandled } from './internal.ts';
import { sleep } from '@shopgraph/core/lifecycle';
import type { KafkaClient } from './kafka.ts';
import type { Runner } from './relay.ts';

/**
 * Handles one event in this process only (e.g. pushes it to in-memory subscribers). No
 * transaction, no retry: a throw is logged and the event skipped.
 */
export type BroadcastHandler<T extends EventType> = (event: Envelope<EventData<T>> & { type: T }) => void | Promise<void>;

export type BroadcastHandlers = { [T in EventType]?: BroadcastHandler<T> };

/** delivered: the handler returned; ignored: a type it does not handle; invalid: not a valid event (or not from the topic's owner); failed: the handler threw. */
export type BroadcastResult = 'delivered' | 'ignored' | 'invalid' | 'failed';

export type BroadcastOutcome = MessageOutcome<BroadcastResult>;

export interface BroadcastConsumerOptions {
  /** The group is `<service>.<name>.<random>`: one of its own per process. */
  service: string;
  name: string;
  kafka: KafkaClient;
  logger: Logger;
  handlers: BroadcastHandlers;
  /** Called once per message with its outcome. */
  onMessage?: (outcome: BroadcastOutcome) => void;
  /** Traces each delivery as a child of the span that recorded the event, when tracing is on. */
  tracer?: Tracer;
}

export interface BroadcastRunner extends Runner {
  /** This process's consumer group (logical, without the topic prefix). */
  readonly group: string;
}

/**
 * A fan-out consumer: every process running one receives every event of the handled types, from
 * the moment it started (earlier events are not replayed). For state that lives in one process's
 * memory, such as live subscriptions; never for effects that must happen once (use
 * `startConsumer`, which is idempotent, retries and dead-letters).
 *
 * Each process joins a consumer group of its own, `<service>.<name>.<random>`, whose offsets are
 * set to the end of each partition before it joins: it receives exactly what is published after
 * it started, in per-partition (so per-key) order. There is no processed-message bookkeeping and
 * no dead-lettering: an invalid message or a failing handler is logged and skipped. Offsets are
 * committed only so that a rebalance within the process resumes where it was; the group is deleted
 * on `stop()` (a crashed process's group expires with Kafka's offsets retention).
 */
export async function startBroadcastConsumer(options: BroadcastConsumerOptions): Promise<BroadcastRunner> {
  const { kafka, handlers } = options;
  const group = `${options.service}.${options.name}.${randomBytes(6).toString('hex')}`;
  const log = options.logger.child({ component: 'broadcast-consumer', group });

  const topics = topicsHandled(handlers, `broadcast consumer ${group}`);
  await kafka.ensureTopics(topics);

  const report = (outcome: Omit<BroadcastOutcome, 'group'>): void => {
    try {
      options.onMessage?.({ group, ...outcome });
    } catch (error) {
      log.warn({ err: error }, 'onMessage hook failed');
    }
  };

  const { admin: adminOf, consumer: consumerOf } = internalsOf(kafka);
  const groupId = kafka.groupId(group);
  // Start at the end of every partition as of now: what is published from here on is received,
  // including what comes while the consumer is still joining (kafkajs' own "latest" would be
  // resolved only at its first fetch, and skip that).
  const ends = new Map<string, Map<number, string>>();
  const admin = adminOf();
  await admin.connect();
  try {
    for (const topic of topics) {
      const physical = kafka.topic(topic);
      // A topic created a moment ago may not have its leaders everywhere yet: retry briefly.
      for (const deadline = Date.now() + 15_000; ;) {
        try {
          ends.set(physical, new Map((await admin.fetchTopicOffsets(physical)).map(({ partition, high }) => [partition, high])));
          break;
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`broadcast consumer ${group}: cannot read the end offsets of ${physical}: ${errorMessage(error)}`, { cause: error });
          await sleep(100);
        }
      }
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }

  const consumer = consumerOf({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 1_000, allowAutoTopicCreation: false });
  // Emitted synchronously once the group is joined, before the first fetch: the seeks apply to it
  // (and are committed). Later joins (a rebalance) resume from the committed offsets.
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    if (joined) return;
    joined = true;
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const offset = ends.get(topic)?.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
    }
  });
  const eachMessage = async ({ topic, partition, message }: EachMessagePayload): Promise<void> => {
    const where = { topic, partition, offset: message.offset };
    let event: (Envelope & { type: EventType }) | undefined;
    try {
      event = parseEvent(message.value);
      assertOrigin(event, topic.slice(kafka.topicPrefix.length)); // only the topic's owner publishes on it
    } catch (error) {
      if (!(error instanceof InvalidEvent)) throw error;
      const known = event ? { eventId: event.id, type: event.type } : {};
      log.warn({ ...where, ...known, reason: error.message }, 'invalid message skipped');
      return report({ ...where, ...known, result: 'invalid', attempts: 0, error: error.message });
    }
    const about = { ...where, eventId: event.id, type: event.type };
    const handler = handlers[event.type] as BroadcastHandler<EventType> | undefined;
    if (!handler) return report({ ...about, result: 'ignored', attempts: 0 });
    try {
      const deliver = async () => handler(event as Envelope<EventData<EventType>> & { type: EventType });
      const { tracer } = options;
      await (tracer ? inSpan(tracer, `deliver ${event.type}`, { kind: SpanKind.CONSUMER, parent: traceContextOfTraceparent(event.traceparent), attributes: { 'messaging.system': 'kafka', 'messaging.consumer.group.name': group } }, deliver) : deliver());
    } catch (error) {
      log.error({ ...about, err: error }, 'broadcast handler failed; event skipped');
      return report({ ...about, result: 'failed', attempts: 1, error: errorMessage(error) });
    }
    report({ ...about, result: 'delivered', attempts: 1 });
  };
  const start = async () => {
    await consumer.connect();
    await consumer.subscribe({ topics: topics.map((t) => kafka.topic(t)), fromBeginning: false });
    await consumer.run({ autoCommit: true, partitionsConsumedConcurrently: 3, eachMessage });
  };
  const restarts = restartAfterCrashes(consumer, start, log);
  try {
    await start();
  } catch (error) {
    restarts.cancel();
    await consumer.disconnect().catch(() => {});
    throw error;
  }
  log.info({ topics }, 'broadcast consumer started');
  return {
    group,
    async stop() {
      restarts.cancel();
      await consumer.disconnect();
      // Nobody will ever use this group again.
      const cleanup = adminOf();
      try {
        await cleanup.connect();
        await cleanup.deleteGroups([groupId]);
      } catch (error) {
        log.debug({ err: error }, 'could not delete the broadcast consumer group; it expires with offsets retention');
      } finally {
        await cleanup.disconnect().catch(() => {});
      }
    },
  };
}
