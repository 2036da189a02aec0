import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureKafka, startKafka, type KafkaHandle } from './kafka.ts';
import { repoDirs } from './paths.ts';
import { canConnect, freePort } from './ports.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'infra-kafka-'));
const cacheDir = repoDirs().cache; // shared with npm start, so the jars are fetched once per machine
const log = (msg: string): void => console.log(msg);
let broker: KafkaHandle | undefined;

beforeAll(async () => {
  // Generous: on a machine without the jars this includes the Maven download.
  broker = await startKafka({ cacheDir, dataDir, log });
}, 300_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

function client(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'infra-test', brokers, logLevel: logLevel.NOTHING });
}

async function consumeOne(kafka: Kafka, topic: string): Promise<{ key: string; value: string }> {
  const consumer = kafka.consumer({ groupId: `infra-test-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message on ${topic} within 30s`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

describe('startKafka', () => {
  it('runs a broker that kafkajs can create a topic on, produce to and consume from', async () => {
    const kafka = client(broker!.brokers);
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic: 'smoke', numPartitions: 1 }], waitForLeaders: true })).toBe(true);
      expect(await admin.listTopics()).toContain('smoke');
    } finally {
      await admin.disconnect();
    }
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'smoke', messages: [{ key: 'order-1', value: 'placed' }] });
    await producer.disconnect();
    expect(await consumeOne(kafka, 'smoke')).toEqual({ key: 'order-1', value: 'placed' });
  }, 60_000);

  it('stops the broker, and a restart on the same data dir keeps topics and messages', async () => {
    const port = Number(broker!.brokers[0]!.split(':')[1]);
    await broker!.stop();
    expect(await canConnect('127.0.0.1', port, 500)).toBe(false);

    const started = Date.now();
    broker = await startKafka({ cacheDir, dataDir, log });
    log(`kafka: warm restart took ${Date.now() - started}ms`);
    const kafka = client(broker.brokers);
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toContain('smoke');
    } finally {
      await admin.disconnect();
    }
    expect(await consumeOne(kafka, 'smoke')).toEqual({ key: 'order-1', value: 'placed' });
  }, 120_000);
});

describe('ensureKafka', () => {
  const savedEnv = process.env.KAFKA_BROKERS;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.KAFKA_BROKERS;
    else process.env.KAFKA_BROKERS = savedEnv;
  });

  it('uses KAFKA_BROKERS when it answers, without starting another broker', async () => {
    process.env.KAFKA_BROKERS = broker!.brokers.join(',');
    const found = await ensureKafka({ cacheDir, dataDir: join(dataDir, 'unused') });
    expect(found.brokers).toEqual(broker!.brokers);
    await found.stop(); // a no-op: the broker is not ours
    expect(await canConnect('127.0.0.1', Number(broker!.brokers[0]!.split(':')[1]), 500)).toBe(true);
  });

  it('fails loudly when KAFKA_BROKERS does not answer', async () => {
    process.env.KAFKA_BROKERS = `127.0.0.1:${await freePort()}`;
    await expect(ensureKafka({ cacheDir, dataDir: join(dataDir, 'unused'), brokersTimeoutMs: 2000 })).rejects.toThrow(
      /KAFKA_BROKERS is set \(127\.0\.0\.1:\d+\) but no broker there answered within 2000ms/,
    );
  });
});
