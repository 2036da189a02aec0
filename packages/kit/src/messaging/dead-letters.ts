import type { KafkaClient } from './kafka.ts';

/** The dead-letter topic of a consumer group: `<group>.dlq`. */
export const deadLetterTopic = (group: string): string => `${group}.dlq`;

/**
 * Sends a group's dead letters back to the topics they came from (header `x-origin-topic`), so the
 * group processes them again once the cause is fixed. Returns how many were replayed.
 */
export function replayDeadLetters(_kafka: KafkaClient, _group: string, _options?: { limit?: number }): Promise<number> {
  throw new Error('not implemented');
}
