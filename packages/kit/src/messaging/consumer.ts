import { assertOrigin, contracts, InvalidEvent, parseEvent, type EventData, type EventType, type Envelope } from '@shopgraph/events';
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { EntityManager, Orm } from '../db.ts';
import type { Logger } from '@shopgraph/core/log';
import { inSpan, SpanKind, traceContextOfTraceparent, type Tracer } from '@shopgraph/core/tracing';
import { DeadLetterHeader, deadLetterTopic } from './dead-letters.ts';
import { errorMessage, internalsOf, restartAfterCrashes, topicsHandled } from './internal.ts';
import { sleep } from '@shopgraph/core/lifecycle';
import type { KafkaClient, MessageHeaders } from './kafka.ts';
import { transactionWithEvents } from './outbox-commits.ts';
import type { Runner } from './relay.ts';

/**
 * Handles one event inside a transaction: `em` is the transaction's EntityManager, and the
 * processed-message row is written in the same transaction, so the effect happens once however
 * often the event is delivered. Record follow-up events with `recordEvent(em, ...)`. The
 * transaction may hold the events before and after this one in the batch too: the handler's
 * writes are flushed when it returns, and it must not keep entities beyond its call.
 * Throw to retry (with backoff); after the last attempt the message goes to the dead-letter topic.
 * An unavailable dependency (the database down, a lock timeout, a deadlock) is retried until it
 * is back, never dead-lettered. Throw `InvalidEvent` (from @shopgraph/events) for a message that
 * no retry can fix: it is dead-lettered at once.
 */
export type EventHandler<T extends EventType> = ((event: Envelope<EventData<T>> & { type: T }, em: EntityManager) => Promise<void>) & {
  /**
   * When it returns false the event is skipped like a type nobody handles: no transaction, no
   * processed-message row (reported as `ignored`). Only for events the handler would leave alone.
   */
  readonly accepts?: (event: Envelope<EventData<T>> & { type: T }) => boolean;
};

/**
 * A handler that only sees the events `accepts` lets through; the others cost no transaction.
 * `accepts` must be pure (it runs before any database work, on every delivery).
 */
export function handleOnly<T extends EventType>(
  accepts: (event: Envelope<EventData<T>> & { type: T }) => boolean,
  handler: (event: Envelope<EventData<T>> & { type: T }, em: EntityManager) => Promise<void>,
): EventHandler<T> {
  return Object.assign((event: Envelope<EventData<T>> & { type: T }, em: EntityManager) => handler(event, em), { accepts });
}

export type EventHandlers = { [T in EventType]?: EventHandler<T> };

/**
 * Work that handlers stage and the consumer carries out once per batch, just before the batch's
 * transaction commits: N events then cost one statement (or one request), not N. For writes no
 * later handler of the batch reads back (a read model's upserts, an index's documents). When
 * `carryOut` throws, the batch's transaction fails like a handler's would; when the transaction
 * rolls back, what was staged in it is dropped with it.
 */
export interface BatchStage<T> {
  /** Everything staged in one transaction, in the order it was staged. */
  carryOut(items: readonly T[], em: EntityManager): Promise<void>;
}

/** The stages of each consumer transaction open now, by its EntityManager. */
const batchesOpen = new WeakMap<EntityManager, Map<BatchStage<unknown>, unknown[]>>();

/** Stages `item` for `stage` in the consumer transaction `em` belongs to (a handler's `em`). */
export function stage<T>(em: EntityManager, batchStage: BatchStage<T>, item: T): void {
  const stages = batchesOpen.get(em);
  // Nothing would ever carry it out.
  if (!stages) throw new Error('stage() takes the em of a consumer handler');
  const items = stages.get(batchStage as BatchStage<unknown>) ?? [];
  items.push(item);
  stages.set(batchStage as BatchStage<unknown>, items);
}

/**
 * A stage that writes the rows a batch's handlers stage into `table` in one upsert keyed by its
 * first column (a read model kept from events, its other columns set to the row's values). For a
 * key staged twice the last row wins: events of one key come in order, and one statement may not
 * touch a row twice.
 */
export function upsertStage<Row extends readonly unknown[]>(table: string, columns: readonly [key: string, value: string, ...values: string[]]): BatchStage<Row> {
  for (const name of [table, ...columns]) if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`upsertStage: "${name}" is not a plain SQL name`);
  const [key, ...values] = columns;
  const placeholders = `(${columns.map(() => '?').join(', ')})`;
  const onConflict = `do update set ${values.map((column) => `${column} = excluded.${column}`).join(', ')}`;
  return {
    async carryOut(rows, em) {
      const lastOfEachKey = [...new Map(rows.map((row) => [row[0], row])).values()];
      await em.execute(`insert into ${table} (${columns.join(', ')}) values ${lastOfEachKey.map(() => placeholders).join(', ')} on conflict (${key}) ${onConflict}`, lastOfEachKey.flat());
    },
  };
}

/**
 * What the idempotent consumer did with a message. processed: the handler's transaction
 * committed; duplicate: already processed by this group (the handler did not run); ignored: a type
 * this consumer does not handle; dead-lettered: sent to `<group>.dlq` (invalid, or failed every
 * attempt).
 */
export type ConsumerResult = 'processed' | 'duplicate' | 'ignored' | 'dead-lettered';

/** What became of one message a consumer (idempotent or broadcast) took, for metrics and tests. */
export interface MessageOutcome<R extends string = ConsumerResult> {
  result: R;
  group: string;
  topic: string;
  partition: number;
  offset: string;
  eventId?: string;
  type?: string;
  /** Handler attempts made (0 when the handler never ran). */
  attempts: number;
  error?: string;
  /** For a processed message: seconds from its event's `time` (≈ its owner's commit) to this group's commit. */
  ageSeconds?: number;
}

export interface ConsumerOptions {
  /** Consumer group `<service>.<name>`, e.g. `inventory.saga`. */
  service: string;
  name: string;
  orm: Orm;
  kafka: KafkaClient;
  logger: Logger;
  handlers: EventHandlers;
  /**
   * Attempts before dead-lettering (default 5) and the first backoff delay (default 100 ms, doubling,
   * at most maxBackoffMs = 30 s). Transient failures (see `isTransient`) do not count as attempts:
   * they are retried, at most `maxBackoffMs` apart, until the dependency is back.
   */
  retry?: { attempts?: number; initialBackoffMs?: number; maxBackoffMs?: number };
  /** Events handled in one database transaction at most (default 200). */
  maxBatchSize?: number;
  /**
   * Batches of different partitions handled at once (default 1): a batch's transaction holds its
   * row locks (a popular product's stock) until it commits, so batches in parallel mostly wait on
   * each other, or deadlock. Order within a partition always holds.
   */
  concurrency?: number;
  /**
   * How often the offsets of handled messages are committed (default 1000 ms; also on stop and
   * before a crash restart). Later commits only mean redeliveries, which processed_message absorbs.
   */
  offsetCommitIntervalMs?: number;
  /**
   * Kafka group session timeout (default 6 s, the broker's minimum): how long a crashed consumer's
   * partitions wait before another member (or its restart) gets them. Heartbeats go every second.
   */
  sessionTimeoutMs?: number;
  /** Called once per message with its outcome (metrics, tests). */
  onMessage?: (outcome: MessageOutcome) => void;
  /** Traces each handler call as a child of the span that recorded its event (the envelope's `traceparent`), when tracing is on. */
  tracer?: Tracer;
  /** Called after each handled batch (metrics): its size, how long it took, and the messages still behind it in its partition. */
  onBatch?: (batch: BatchOutcome) => void;
  /**
   * Test seam: runs after the handler's transaction committed and before the message's offset is
   * committed. A throw here is handled like a crash at that point: the offset is not committed
   * and the message is delivered again (and found in processed_message).
   */
  afterCommit?: (event: Envelope & { type: EventType }) => Promise<void> | void;
}

/** Seconds since the event was recorded, by this host's clock (skew between hosts shows in it). */
const ageOf = (event: { time: string }): number => Math.max(0, (Date.now() - Date.parse(event.time)) / 1000);

const consumeAttributes = (group: string, topic: string, eventId: string) => ({ 'messaging.system': 'kafka', 'messaging.consumer.group.name': group, 'messaging.destination.name': topic, 'messaging.message.id': eventId });

export interface BatchOutcome {
  group: string;
  topic: string;
  partition: number;
  messages: number;
  seconds: number;
  /** Messages in the partition after this batch (its high watermark minus the next offset). */
  lag: number;
}

/**
 * Subscribes to the topics of the handled event types. Messages of other types on those topics
 * are skipped (their offset is committed; nothing is written; known by their `event-type` header
 * when they have one, without parsing); invalid ones (bad JSON, unknown type or version, data
 * failing its schema, a type of another topic, a `source` that is not the topic's owner: see
 * `assertOrigin`) go to the dead-letter topic at once with the reason in headers.
 *
 * Fixed costs are paid per batch, not per message: what one fetch brought for a partition is
 * handled in one transaction (up to `maxBatchSize`), its processed-message rows written in one
 * statement, each handler's writes flushed in turn, and the events they record written in one
 * statement before the commit (`recordEvent`). When that transaction fails, the batch's
 * events are handled again one transaction each, so one bad message fails alone.
 *
 * An offset is committed only after its message's handling finished, i.e. after its transaction
 * committed, and in batches on a timer (`offsetCommitIntervalMs`) rather than per fetch. That
 * order is what makes it safe: a crash after the commit of the transaction but before the commit
 * of the offset means the message is delivered again, and the processed_message row (written in
 * that same transaction) turns the redelivery into a no-op.
 *
 * A handler error is retried in-process with exponential backoff (heartbeating meanwhile); after
 * the last attempt the message goes to `<group>.dlq` and its offset is committed, so one poison
 * message never blocks the partition. A failure of the database (or another dependency) is no
 * reason to dead-letter: it is retried until the dependency is back.
 *
 * Resolves once the consumer is subscribed, without waiting to join its group (which can take a
 * session timeout after a crash), so a restarted service serves HTTP at once.
 */
export async function startConsumer(options: ConsumerOptions): Promise<Runner> {
  const { orm, kafka, handlers } = options;
  const group = `${options.service}.${options.name}`;
  const attempts = Math.max(1, options.retry?.attempts ?? 5);
  const initialBackoffMs = options.retry?.initialBackoffMs ?? 100;
  const maxBackoffMs = options.retry?.maxBackoffMs ?? 30_000;
  const maxBatchSize = Math.max(1, options.maxBatchSize ?? 200);
  const log = options.logger.child({ component: 'consumer', group });

  const topics = topicsHandled(handlers, `consumer ${group}`);
  const dlq = deadLetterTopic(group);
  await kafka.ensureTopics([...topics, dlq]);

  const stopping = new AbortController();
  const report = (outcome: Omit<MessageOutcome, 'group'>): void => {
    try {
      options.onMessage?.({ group, ...outcome });
    } catch (error) {
      log.warn({ err: error }, 'onMessage hook failed');
    }
  };

  const reportBatch = (outcome: Omit<BatchOutcome, 'group'>): void => {
    try {
      options.onBatch?.({ group, ...outcome });
    } catch (error) {
      log.warn({ err: error }, 'onBatch hook failed');
    }
  };

  const deadLetter = async (topic: string, partition: number, message: KafkaMessage, error: unknown, tries: number): Promise<void> => {
    const headers: MessageHeaders = {
      ...(message.headers ?? {}),
      [DeadLetterHeader.error]: errorMessage(error).slice(0, 2000),
      [DeadLetterHeader.errorType]: error instanceof Error ? error.name : typeof error,
      [DeadLetterHeader.attempts]: String(tries),
      [DeadLetterHeader.originTopic]: topic,
      [DeadLetterHeader.originPartition]: String(partition),
      [DeadLetterHeader.originOffset]: message.offset,
      [DeadLetterHeader.failedAt]: new Date().toISOString(),
      [DeadLetterHeader.consumerGroup]: group,
    };
    await kafka.send([{ topic: dlq, key: message.key, value: message.value, headers }]);
  };

  /** A message whose handler is to run. */
  interface Work {
    message: KafkaMessage;
    event: HandledEvent;
    handler: EventHandler<EventType>;
    about: Omit<MessageOutcome, 'group' | 'result' | 'attempts'>;
  }

  /** What a message is: work for a handler, or nothing to do (skipped, or invalid and dead-lettered here). */
  const triage = async (topic: string, partition: number, message: KafkaMessage): Promise<Work | undefined> => {
    const where = { topic, partition, offset: message.offset };
    // The relay names the type in a header: a type this group does not handle is skipped unparsed
    // (the groups that handle it validate it).
    const headerType = headerText(message.headers?.['event-type']);
    if (headerType !== undefined && Object.hasOwn(contracts, headerType) && !handlers[headerType as EventType]) {
      report({ ...where, eventId: headerText(message.headers?.['event-id']), type: headerType, result: 'ignored', attempts: 0 });
      return undefined;
    }
    let event: HandledEvent | undefined;
    try {
      event = parseEvent(message.value);
      // Only the topic's owner may publish on it: an event signed by anyone else is refused unhandled.
      assertOrigin(event, topic.slice(kafka.topicPrefix.length));
    } catch (error) {
      if (!(error instanceof InvalidEvent)) throw error;
      const known = event ? { eventId: event.id, type: event.type } : {};
      log.warn({ ...where, ...known, reason: error.message }, 'invalid message: dead-lettered');
      await deadLetter(topic, partition, message, error, 0);
      report({ ...where, ...known, result: 'dead-lettered', attempts: 0, error: error.message });
      return undefined;
    }
    const handler = handlers[event.type] as EventHandler<EventType> | undefined;
    const about = { ...where, eventId: event.id, type: event.type };
    if (!handler || (handler.accepts && !handler.accepts(event))) {
      report({ ...about, result: 'ignored', attempts: 0 });
      return undefined;
    }
    return { message, event, handler, about };
  };

  /**
   * Runs the handlers of `work` in one transaction, after one statement recording their event ids;
   * an id this group has seen (a redelivery, or the same event twice in the batch) is a duplicate.
   */
  const runTogether = (work: Work[]): Promise<boolean[]> =>
    transactionWithEvents(orm.em, async (em) => {
      const stages = new Map<BatchStage<unknown>, unknown[]>();
      batchesOpen.set(em, stages);
      const ids = work.map((w) => w.event.id);
      const inserted = await em.execute<{ event_id: string }[]>(
        `insert into processed_message (consumer, event_id, processed_at) values ${ids.map(() => '(?, ?, now())').join(', ')} on conflict do nothing returning event_id`,
        ids.flatMap((id) => [group, id]),
        'all',
      );
      const fresh = new Set(inserted.map((row) => row.event_id));
      const processed: boolean[] = [];
      for (const { event, handler, about } of work) {
        processed.push(fresh.delete(event.id));
        if (!processed.at(-1)) continue;
        // Each handler sees the writes of those before it, and none of their entities.
        const handle = () => handler(event, em).then(() => em.flush());
        await (options.tracer ? inSpan(options.tracer, `consume ${event.type}`, { kind: SpanKind.CONSUMER, parent: traceContextOfTraceparent(event.traceparent), attributes: consumeAttributes(group, about.topic, event.id) }, handle) : handle());
        em.clear();
      }
      for (const [batchStage, items] of stages) await batchStage.carryOut(items, em);
      return processed;
    });

  /** Waits `delay` in slices, heartbeating in between, so a long backoff does not cost the partition. */
  const backOff = async (delay: number, heartbeat: () => Promise<void>): Promise<void> => {
    for (const until = Date.now() + delay; Date.now() < until && !stopping.signal.aborted; ) {
      await sleep(Math.min(1_000, until - Date.now()), stopping.signal);
      await heartbeat();
    }
  };

  /** One event in a transaction of its own: retried with backoff, dead-lettered when it cannot succeed. */
  const handleAlone = async (work: Work, heartbeat: () => Promise<void>): Promise<void> => {
    const { message, event, about } = work;
    let outages = 0;
    for (let attempt = 1; ; ) {
      let processed: boolean;
      try {
        [processed = false] = await runTogether([work]);
      } catch (error) {
        if (stopping.signal.aborted) throw new Error(`consumer ${group} stopping; ${event.type} ${event.id} left for redelivery`, { cause: error });
        if (isTransient(error)) {
          // Not the message's fault: wait for the dependency, however long, without using up attempts.
          const delay = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(outages++, 16));
          log.warn({ ...about, err: error, outages, retryInMs: delay }, 'a dependency is unavailable; retrying until it is back');
          await backOff(delay, heartbeat);
          continue;
        }
        if (error instanceof InvalidEvent || attempt >= attempts) {
          log.error({ ...about, err: error, attempts: attempt }, 'handler failed: dead-lettered');
          await deadLetter(about.topic, about.partition, message, error, attempt);
          report({ ...about, result: 'dead-lettered', attempts: attempt, error: errorMessage(error) });
          return;
        }
        const delay = Math.min(maxBackoffMs, initialBackoffMs * 2 ** (attempt - 1));
        log.warn({ ...about, err: error, attempt, retryInMs: delay }, 'handler failed; retrying');
        await backOff(delay, heartbeat);
        attempt++;
        continue;
      }
      report({ ...about, result: processed ? 'processed' : 'duplicate', attempts: processed ? attempt : 0, ...(processed && { ageSeconds: ageOf(event) }) });
      await options.afterCommit?.(event);
      return;
    }
  };

  /** The events of one batch: together in one transaction; when that fails, each alone, in order. */
  const handleBatch = async (work: Work[], heartbeat: () => Promise<void>): Promise<void> => {
    if (work.length === 0) return;
    if (work.length > 1) {
      let processed: boolean[] | undefined;
      for (let outages = 0; !processed; ) {
        try {
          processed = await runTogether(work);
        } catch (error) {
          if (stopping.signal.aborted) throw new Error(`consumer ${group} stopping; a batch of ${work.length} left for redelivery`, { cause: error });
          // A deadlock with another partition's batch, or the database gone: the batch again, whole.
          if (isTransient(error) && outages < 3) {
            await backOff(initialBackoffMs * 2 ** outages++, heartbeat);
            continue;
          }
          log.debug({ err: error, size: work.length }, 'batch failed; handling its events one by one');
          break;
        }
      }
      if (processed) {
        work.forEach(({ about, event }, i) => report({ ...about, result: processed[i] ? 'processed' : 'duplicate', attempts: processed[i] ? 1 : 0, ...(processed[i] && { ageSeconds: ageOf(event) }) }));
        for (const { event } of work) await options.afterCommit?.(event);
        return;
      }
    }
    for (const one of work) {
      if (stopping.signal.aborted) throw new Error(`consumer ${group} stopping; ${one.event.type} ${one.event.id} left for redelivery`);
      await handleAlone(one, heartbeat);
    }
  };

  const { consumer: consumerOf } = internalsOf(kafka);
  const consumer = consumerOf({
    groupId: kafka.groupId(group),
    sessionTimeout: options.sessionTimeoutMs ?? 6_000,
    heartbeatInterval: Math.min(1_000, Math.floor((options.sessionTimeoutMs ?? 6_000) / 3)),
    // A fetch answers as soon as there is a byte; an idle group asks once a second (a longer wait
    // would hold the heartbeats queued behind it on the broker connection).
    maxWaitTimeInMs: 1_000,
    allowAutoTopicCreation: false,
  });

  // Next offset to commit per partition, for handled messages only. Kept by the partition's
  // current assignment: a partition moved to another member is forgotten (its owner commits).
  const pending = new Map<string, { topic: string; partition: number; offset: string }>();
  let assignment: Record<string, number[]> = {};
  const owned = (o: { topic: string; partition: number }): boolean => assignment[o.topic]?.includes(o.partition) === true;
  let committing: Promise<void> = Promise.resolve();
  const commitPending = (): Promise<void> => {
    committing = committing.then(async () => {
      if (pending.size === 0) return;
      const offsets = [...pending.values()];
      pending.clear();
      try {
        await consumer.commitOffsets(offsets);
      } catch (error) {
        // Not fatal: those messages come again (and are found in processed_message) unless a later commit covers them.
        for (const o of offsets) {
          const key = `${o.topic}:${o.partition}`;
          if (!pending.has(key) && owned(o)) pending.set(key, o);
        }
        log.warn({ err: error }, 'offset commit failed; retried with the next one');
      }
    });
    return committing;
  };
  const commitIntervalMs = options.offsetCommitIntervalMs ?? 1_000;
  const commitTimer = setInterval(() => void commitPending(), commitIntervalMs);
  commitTimer.unref();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    assignment = payload.memberAssignment;
    for (const [key, o] of pending) if (!owned(o)) pending.delete(key);
  });

  // Batches being handled, so stop() can wait for them before its last offset commit.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    inFlight++;
    try {
      const { topic, partition } = batch;
      for (let from = 0; from < batch.messages.length; from += maxBatchSize) {
        if (stopping.signal.aborted || !isRunning() || isStale()) break;
        const messages = batch.messages.slice(from, from + maxBatchSize);
        const started = performance.now();
        const work: Work[] = [];
        for (const message of messages) {
          const item = await triage(topic, partition, message);
          if (item) work.push(item);
        }
        await handleBatch(work, heartbeat);
        const last = messages.at(-1)!.offset;
        reportBatch({ topic, partition, messages: messages.length, seconds: (performance.now() - started) / 1000, lag: Number(BigInt(batch.highWatermark) - 1n - BigInt(last)) });
        resolveOffset(last); // where kafkajs fetches from next
        pending.set(`${topic}:${partition}`, { topic, partition, offset: (BigInt(last) + 1n).toString() });
        await heartbeat();
      }
    } catch (error) {
      // kafkajs restarts the consumer from the committed offsets: commit what was handled first.
      await commitPending();
      throw error;
    } finally {
      if (--inFlight === 0) drained?.();
    }
  };

  const subscribe = () => consumer.subscribe({ topics: topics.map((t) => kafka.topic(t)), fromBeginning: true });
  // Not awaited: joining waits for the group (up to a session timeout after a crash).
  const run = () =>
    consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: options.concurrency ?? 1, eachBatch }).catch((error: unknown) => {
      if (!stopping.signal.aborted) log.error({ err: error }, 'consumer could not start');
    });

  const restarts = restartAfterCrashes(consumer, async () => {
    await consumer.connect();
    await subscribe();
    running = run();
  }, log);

  await consumer.connect();
  try {
    await subscribe();
  } catch (error) {
    clearInterval(commitTimer);
    await consumer.disconnect().catch(() => {});
    throw error;
  }
  let running = run();
  log.info({ topics }, 'consumer started');
  return {
    async stop() {
      stopping.abort();
      clearInterval(commitTimer);
      restarts.cancel();
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await commitPending();
      await consumer.disconnect();
      await running;
    },
  };
}

type HandledEvent = Envelope<EventData<EventType>> & { type: EventType };

/**
 * Thrown by a handler whose dependency other than its database (a search engine, a provider) is
 * unavailable: the consumer waits for it like for its database, instead of dead-lettering.
 */
export class DependencyUnavailable extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what} is unavailable`, options);
    this.name = 'DependencyUnavailable';
  }
}

/** SQLSTATE classes and codes of failures that pass: connection lost, server shutting down or out of resources, lock timeout, deadlock, serialization. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[1-3]|55P03|40001|40P01|57014)/;
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Whether an error says a dependency is unavailable for now, not that the message is wrong: then
 * the consumer waits for it instead of dead-lettering. Follows `cause` (MikroORM wraps pg errors).
 */
export function isTransient(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DependencyUnavailable) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE_CODES.has(code))) return true;
    // pg's own errors when a connection breaks or cannot be had carry no code.
    if (/Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message)) return true;
  }
  return false;
}

/** A header's value as text, if it has exactly one. */
function headerText(value: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  if (value === undefined || Array.isArray(value)) return undefined;
  return value.toString();
}
