import { contracts } from '@shopgraph/events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import type { EntityManager } from '../db.ts';
import { deadLetterTopic } from './dead-letters.ts';
import { internalsOf } from './internal.ts';
import { createKafka, kafkaConfig, kafkaSecurity } from './kafka.ts';
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
    expect(kafkaConfig.parse({ KAFKA_BROKERS: 'a:1, b:2' })).toEqual({ KAFKA_BROKERS: ['a:1', 'b:2'], KAFKA_TOPIC_PREFIX: '', KAFKA_REPLICATION_FACTOR: 1, KAFKA_SSL: false });
    expect(kafkaConfig.parse({ KAFKA_REPLICATION_FACTOR: '3' }).KAFKA_REPLICATION_FACTOR).toBe(3);
    expect(kafkaConfig.parse({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'inventory', KAFKA_SASL_PASSWORD: 'pw', KAFKA_SSL: 'true' })).toMatchObject({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'inventory', KAFKA_SASL_PASSWORD: 'pw', KAFKA_SSL: true });
    expect(kafkaConfig.safeParse({ KAFKA_SASL_MECHANISM: 'gssapi' }).success).toBe(false);
    expect(kafkaConfig.safeParse({ KAFKA_SSL: 'yes' }).success).toBe(false);
  });
});

describe('kafkaSecurity', () => {
  const settings = (env: Record<string, string>) => kafkaConfig.parse(env);

  it('is nothing by default: plaintext, anonymous', () => {
    expect(kafkaSecurity(settings({}))).toEqual({});
  });

  it('gives kafkajs SASL with the password kept out of logs and JSON', () => {
    const security = kafkaSecurity(settings({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'inventory', KAFKA_SASL_PASSWORD: 's3cret-pw' }));
    expect(security.sasl).toMatchObject({ mechanism: 'scram-sha-512', username: 'inventory' });
    expect((security.sasl as { password: string }).password).toBe('s3cret-pw');
    expect(JSON.stringify(security)).not.toContain('s3cret-pw');
    expect(inspect(security, { depth: 5 })).not.toContain('s3cret-pw');
    expect(security.ssl).toBeUndefined();
  });

  it('needs the mechanism, username and password together, naming what is missing', () => {
    expect(() => kafkaSecurity(settings({ KAFKA_SASL_MECHANISM: 'scram-sha-256' }))).toThrow(/KAFKA_SASL_USERNAME: required[\s\S]*KAFKA_SASL_PASSWORD: required/);
    expect(() => kafkaSecurity(settings({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }))).toThrow(/KAFKA_SASL_PASSWORD: required/);
    expect(() => kafkaSecurity(settings({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }))).toThrow(/KAFKA_SASL_USERNAME: needs KAFKA_SASL_MECHANISM/);
  });

  it('turns TLS on, with the CA file read, and refuses a CA without TLS or one it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kit-kafka-ca-'));
    try {
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, 'PEM');
      expect(kafkaSecurity(settings({ KAFKA_SSL: 'true' }))).toEqual({ ssl: true });
      expect(kafkaSecurity(settings({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: ca }))).toEqual({ ssl: { ca: ['PEM'] } });
      expect(() => kafkaSecurity(settings({ KAFKA_SSL_CA_FILE: ca }))).toThrow(/KAFKA_SSL_CA_FILE: needs KAFKA_SSL=true/);
      expect(() => kafkaSecurity(settings({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: join(dir, 'missing.pem') }))).toThrow(/KAFKA_SSL_CA_FILE: cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is what the client connects with: KAFKA_SSL=true opens with a TLS handshake', async () => {
    let received!: (bytes: Buffer) => void;
    const first = new Promise<Buffer>((resolve) => (received = resolve));
    const server = createServer((socket) => socket.once('data', (bytes) => (received(bytes), socket.destroy())));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const kafka = createKafka({ brokers: [`127.0.0.1:${(server.address() as AddressInfo).port}`], clientId: 'unit', security: kafkaSecurity(settings({ KAFKA_SSL: 'true' })) });
    const admin = internalsOf(kafka).kafka.admin();
    void admin.connect().catch(() => {}); // fails (and retries a while in the background): only its first bytes matter
    try {
      expect((await first)[0], 'a TLS handshake record').toBe(0x16);
    } finally {
      await admin.disconnect().catch(() => {});
      await kafka.close();
      await new Promise((resolve) => server.close(resolve));
    }
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
