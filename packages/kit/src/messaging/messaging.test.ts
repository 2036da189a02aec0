import { contracts } from '@shopgraph/events';
import { describe, expect, it, vi } from 'vitest';
import type { EntityManager } from '../db.ts';
import { deadLetterTopic } from './dead-letters.ts';
import { createKafka, kafkaConfig } from './kafka.ts';
import { OutboxMessage, recordEvent } from './outbox.ts';

describe('createKafka', () => {
  it('prefixes topics and consumer groups, and needs no broker until used', async () => {
    const kafka = createKafka({ brokers: ['127.0.0.1:1'], clientId: 'unit', topicPrefix: 'tabc.' });
    expect(kafka.topic('orders.order.v1')).toBe('tabc.orders.order.v1');
    expect(kafka.groupId('inventory.saga')).toBe('tabc.inventory.saga');
    expect(kafka.topic(deadLetterTopic('inventory.saga'))).toBe('tabc.inventory.saga.dlq');
    await kafka.close();
    await expect(kafka.send([{ topic: 'x', key: null, value: 'v' }])).rejects.toThrow(/closed/);
  });

  it('reads its settings from the environment', () => {
    expect(kafkaConfig.parse({ KAFKA_BROKERS: 'a:1, b:2' })).toEqual({ KAFKA_BROKERS: ['a:1', 'b:2'], KAFKA_TOPIC_PREFIX: '', KAFKA_REPLICATION_FACTOR: 1 });
    expect(kafkaConfig.parse({ KAFKA_REPLICATION_FACTOR: '3' }).KAFKA_REPLICATION_FACTOR).toBe(3);
  });
});

describe('recordEvent', () => {
  const fakeEm = () => {
    const persisted: unknown[] = [];
    const em = { create: vi.fn((_entity: unknown, data: object) => ({ ...data })), persist: vi.fn((entity: unknown) => persisted.push(entity)) };
    return { em: em as unknown as EntityManager, persisted, raw: em };
  };

  it('persists one outbox row: the contract topic, the subject as key, the validated envelope', () => {
    const { em, persisted, raw } = fakeEm();
    const userId = crypto.randomUUID();
    const envelope = recordEvent(em, 'account.user.registered', userId, { userId, email: 'a@b.c', name: 'A' }, { source: 'accounts', traceparent: 'tp' });
    expect(raw.create).toHaveBeenCalledWith(OutboxMessage, expect.anything());
    expect(persisted).toEqual([{ id: envelope.id, topic: contracts['account.user.registered'].topic, key: userId, type: 'account.user.registered', envelope, publishedAt: null }]);
    expect(envelope).toMatchObject({ type: 'account.user.registered', source: 'accounts', subject: userId, dataVersion: 1, traceparent: 'tp' });
  });

  it('throws on invalid data without touching the EntityManager', () => {
    const { em, raw } = fakeEm();
    expect(() => recordEvent(em, 'account.user.registered', 'x', { userId: 'nope', email: 'a', name: 'b' })).toThrow();
    expect(raw.create).not.toHaveBeenCalled();
    expect(raw.persist).not.toHaveBeenCalled();
  });
});
