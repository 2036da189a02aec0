import type { IHeaders } from 'kafkajs';
import { errorMessage, internalsOf } from './internal.ts';
import type { KafkaClient } from './kafka.ts';

/** The dead-letter topic of a consumer group: `<group>.dlq`. */
export const deadLetterTopic = (group: string): string => `${group}.dlq`;

/** Dead-letter headers: why and where from. The original key, value and headers are kept as they were. */
export const DeadLetterHeader = {
  error: 'x-error',
  errorType: 'x-error-type',
  attempts: 'x-attempts',
  originTopic: 'x-origin-topic',
  originPartition: 'x-origin-partition',
  originOffset: 'x-origin-offset',
  failedAt: 'x-failed-at',
  consumerGroup: 'x-consumer-group',
} as const;

/** The header a replayed message carries: `<dlq topic>:<partition>:<offset>` it was replayed from. */
export const REPLAYED_FROM_HEADER = 'x-replayed-from';

const dropOnReplay = new Set<string>([...Object.values(DeadLetterHeader), REPLAYED_FROM_HEADER]);

/**
 * Sends a group's dead letters back to the topics they came from (header `x-origin-topic`), so the
 * group processes them again once the cause is fixed. Returns how many were replayed.
 *
 * Reads the dead-letter topic with its own consumer group `<group>.dlq-replay`, from where the
 * previous replay stopped, up to the end of the topic as it was when the call started (dead
 * letters arriving meanwhile wait for the next replay), and commits after each message, so an
 * interrupted replay resumes without replaying twice. The original key, value and headers are
 * kept (the dead-letter `x-…` headers are dropped) and `x-replayed-from` is added.
 *
 * Every group subscribed to the origin topic sees the replayed message again: the groups that
 * processed it already skip it (processed_message); a message that is still invalid is dead-
 * lettered again by each group that reads it, so fix the cause before replaying.
 */
export async function replayDeadLetters(kafka: KafkaClient, group: string, options: { limit?: number; timeoutMs?: number } = {}): Promise<number> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (limit <= 0) return 0;
  const { producer, admin: adminOf, consumer: consumerOf } = internalsOf(kafka);
  const topic = kafka.topic(deadLetterTopic(group));
  const groupId = kafka.groupId(`${group}.dlq-replay`);

  // Where to stop (the high watermarks now) and where to start (the replay group's commits).
  const admin = adminOf();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    // Not created here: a consumer creates its dead-letter topic when it starts, so a missing one is a wrong group name.
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`no dead-letter topic ${topic}: is "${group}" a consumer group (<service>.<name>)?`);
    const [offsets, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const start = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    for (const p of offsets) {
      const from = start.get(p.partition) ?? -1n;
      const begin = from >= 0n && from > BigInt(p.low) ? from : BigInt(p.low);
      if (BigInt(p.high) > begin) ends.set(p.partition, BigInt(p.high));
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
  if (ends.size === 0) return 0;

  const send = await producer();
  const consumer = consumerOf({ groupId, maxWaitTimeInMs: 250, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false });
  let replayed = 0;
  let failure: unknown;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const pending = new Set(ends.keys());
  const partitionDone = (partition: number): void => {
    pending.delete(partition);
    if (pending.size === 0) finish();
  };
  await consumer.connect();
  const timer = setTimeout(() => {
    failure = new Error(`replaying ${topic} did not catch up within ${timeoutMs} ms (replayed ${replayed})`);
    finish();
  }, timeoutMs);
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const end = ends.get(partition);
        const offset = BigInt(message.offset);
        if (end === undefined || offset >= end || replayed >= limit || failure) return partitionDone(partition);
        const origin = message.headers?.[DeadLetterHeader.originTopic]?.toString();
        if (origin) {
          const headers: IHeaders = Object.fromEntries(Object.entries(message.headers ?? {}).filter(([name]) => !dropOnReplay.has(name)));
          headers[REPLAYED_FROM_HEADER] = `${topic}:${partition}:${message.offset}`;
          try {
            await send.send({ topic: origin, acks: -1, messages: [{ key: message.key, value: message.value, headers }] });
          } catch (error) {
            failure = new Error(`replaying ${topic} failed: ${errorMessage(error)}`, { cause: error });
            finish();
            return;
          }
          replayed++;
        }
        // Committed one by one: a replay that is interrupted resumes after the last one sent.
        await consumer.commitOffsets([{ topic, partition, offset: (offset + 1n).toString() }]);
        if (offset + 1n >= end) partitionDone(partition);
        if (replayed >= limit) finish();
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
  }
  if (failure) throw failure;
  return replayed;
}
